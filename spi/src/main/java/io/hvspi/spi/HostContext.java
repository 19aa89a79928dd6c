package io.hvspi.spi;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * What the host gives a plugin: where VMs live, where their state is kept,
 * default timeouts, and named options.
 */
public interface HostContext {

    /** The directory under which each VM gets its private runtime directory. */
    Path runtimeRoot();

    /**
     * Creates the VM's private runtime directory ({@code runtimeRoot/vmId}, mode
     * 0700) and returns it. Refuses an id that is taken or not a safe file name.
     */
    Path createRuntimeDir(String vmId);

    /**
     * Removes the VM's runtime directory ({@code runtimeRoot/vmId}) and everything in
     * it, without following symbolic links out of it; nothing when it is gone already.
     * Plugins call this from {@code stop()} instead of deleting the tree themselves.
     * Added in SPI 1.1 as a default method (a minor change): hosts built against 1.0
     * get this implementation.
     *
     * @throws HvspiException naming what could not be removed
     */
    default void removeRuntimeDir(String vmId) {
        if (vmId == null || vmId.isEmpty() || vmId.contains("/") || vmId.equals(".") || vmId.equals("..")) {
            throw new RequestRejectedException(RequestRejectedException.Reason.INVALID_ARGUMENT,
                    "'" + vmId + "' is not a VM id");
        }
        Path dir = runtimeRoot().resolve(vmId);
        try {
            deleteTree(dir);
        } catch (IOException e) {
            throw new HvspiException("cannot remove runtime directory " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Removes {@code p} and what is under it, links not followed. What vanishes meanwhile is
     * skipped: another party (a stop that outlived its bound) may be removing the same tree.
     */
    private static void deleteTree(Path p) throws IOException {
        if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
            try (DirectoryStream<Path> entries = Files.newDirectoryStream(p)) {
                for (Path entry : entries) {
                    deleteTree(entry);
                }
            } catch (NoSuchFileException gone) {
                return;
            }
        }
        Files.deleteIfExists(p);
    }

    VmStateStore stateStore();

    /** The default timeout for one command to the VMM. */
    Duration commandTimeout();

    /**
     * A named option. Known keys: {@code endpoint} (connect to this VMM endpoint,
     * e.g. an API socket of a simulator, instead of spawning the binary).
     */
    Optional<String> option(String key);

    /**
     * Where to report the VMM's request round trips; {@link VmmMetrics#NONE} unless
     * the embedder asked for metrics.
     *
     * @since 1.1
     */
    default VmmMetrics metrics() {
        return VmmMetrics.NONE;
    }
}
