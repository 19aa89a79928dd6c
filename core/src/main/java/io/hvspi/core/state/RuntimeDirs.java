package io.hvspi.core.state;

import io.hvspi.spi.RequestRejectedException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.regex.Pattern;

/** Private runtime directories: where they live by default, and how they are made (0700, checked names). */
public final class RuntimeDirs {
    /** A VM id is a safe file name and a valid QEMU id: a letter first, then letters, digits, '-', '_', '.'. */
    public static final Pattern VM_ID = Pattern.compile("[A-Za-z][A-Za-z0-9_.-]{0,63}");

    static final Set<PosixFilePermission> DIR_MODE = PosixFilePermissions.fromString("rwx------");
    static final Set<PosixFilePermission> FILE_MODE = PosixFilePermissions.fromString("rw-------");

    private RuntimeDirs() {}

    /**
     * The default runtime root: {@code $HVSPI_RUNTIME_DIR}, else {@code /run/hvspi} for root, else
     * {@code $XDG_RUNTIME_DIR/hvspi}, else {@code /tmp/hvspi-<user>}.
     */
    public static Path defaultRoot() {
        String explicit = System.getenv("HVSPI_RUNTIME_DIR");
        if (explicit != null && !explicit.isBlank()) {
            return Path.of(explicit);
        }
        if ("root".equals(System.getProperty("user.name"))) {
            return Path.of("/run/hvspi");
        }
        String xdg = System.getenv("XDG_RUNTIME_DIR");
        if (xdg != null && !xdg.isBlank()) {
            return Path.of(xdg, "hvspi");
        }
        return Path.of("/tmp", "hvspi-" + System.getProperty("user.name"));
    }

    /** Throws {@link RequestRejectedException} unless {@code vmId} matches {@link #VM_ID}. */
    public static String checkVmId(String vmId) {
        if (vmId == null || !VM_ID.matcher(vmId).matches()) {
            throw new RequestRejectedException(RequestRejectedException.Reason.INVALID_ARGUMENT,
                    "invalid VM id '" + vmId + "': expected a letter, then up to 63 letters, digits, '-', '_' or '.'");
        }
        return vmId;
    }

    /** Creates {@code dir} and its missing parents with mode 0700, and forces 0700 on {@code dir} itself. */
    public static Path createPrivate(Path dir) {
        try {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(DIR_MODE));
            Files.setPosixFilePermissions(dir, DIR_MODE);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create private directory " + dir + ": " + e.getMessage(), e);
        }
    }
}
