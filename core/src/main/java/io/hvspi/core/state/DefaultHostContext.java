package io.hvspi.core.state;

import io.hvspi.spi.HostContext;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmStateStore;
import io.hvspi.spi.VmmMetrics;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/** The host side of {@link HostContext}: a runtime root with private VM directories and a JSON state store. */
public final class DefaultHostContext implements HostContext {
    /** QMP answers in well under a millisecond; 10 s covers a loaded CI machine and a slow device_del. */
    public static final Duration DEFAULT_COMMAND_TIMEOUT = Duration.ofSeconds(10);

    private final Path root;
    private final VmStateStore store;
    private final Duration commandTimeout;
    private final Map<String, String> options;

    private final VmmMetrics metrics;

    public DefaultHostContext(Path root, Duration commandTimeout, Map<String, String> options) {
        // checked now when it exists; made when a VM first needs it, so that reading (vm list, vm status
        // of an id that has no VM) creates nothing, not even a missing root's parents
        this.root = RuntimeDirs.checkRootIfPresent(root.toAbsolutePath());
        this.store = new JsonVmStateStore(this.root);
        this.commandTimeout = commandTimeout;
        this.options = Map.copyOf(options);
        this.metrics = VmmMetrics.NONE;
    }

    private DefaultHostContext(DefaultHostContext base, VmStateStore store, Map<String, String> options,
                               VmmMetrics metrics) {
        this.root = base.root;
        this.store = java.util.Objects.requireNonNull(store, "store");
        this.commandTimeout = base.commandTimeout;
        this.options = Map.copyOf(options);
        this.metrics = java.util.Objects.requireNonNull(metrics, "metrics");
    }

    /** A copy that reports VMM round trips to {@code metrics}. */
    public DefaultHostContext withMetrics(VmmMetrics metrics) {
        return new DefaultHostContext(this, store, options, metrics);
    }

    /**
     * A copy whose VM records go to {@code store} (a tool's in-memory store, a test's recording one);
     * runtime directories, options and metrics stay this host's.
     */
    public DefaultHostContext withStateStore(VmStateStore store) {
        return new DefaultHostContext(this, store, options, metrics);
    }

    @Override
    public VmmMetrics metrics() {
        return metrics;
    }

    /** The default root, timeout, and no options. */
    public static DefaultHostContext createDefault() {
        return new DefaultHostContext(RuntimeDirs.defaultRoot(), DEFAULT_COMMAND_TIMEOUT, Map.of());
    }

    /** A copy with one more option. */
    public DefaultHostContext withOption(String key, String value) {
        Map<String, String> merged = new java.util.HashMap<>(options);
        merged.put(key, value);
        return new DefaultHostContext(this, store, merged, metrics);
    }

    @Override
    public Path runtimeRoot() {
        return root;
    }

    @Override
    public Path createRuntimeDir(String vmId) {
        Path dir = root.resolve(RuntimeDirs.checkVmId(vmId));
        RuntimeDirs.createRoot(root);
        try {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(RuntimeDirs.DIR_MODE));
            // the umask may have narrowed the mode further, never widened it; set it exactly
            Files.setPosixFilePermissions(dir, RuntimeDirs.DIR_MODE);
            return dir;
        } catch (FileAlreadyExistsException e) {
            throw new RequestRejectedException(RequestRejectedException.Reason.DUPLICATE_ID,
                    "VM '" + vmId + "' already has a runtime directory " + dir);
        } catch (IOException e) {
            throw new HvspiException("cannot create runtime directory " + dir + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void removeRuntimeDir(String vmId) {
        RuntimeDirs.deleteTree(root.resolve(RuntimeDirs.checkVmId(vmId)));
    }

    @Override
    public VmStateStore stateStore() {
        return store;
    }

    @Override
    public Duration commandTimeout() {
        return commandTimeout;
    }

    @Override
    public Optional<String> option(String key) {
        return Optional.ofNullable(options.get(key));
    }
}
