package io.hvspi.spi;

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

    VmStateStore stateStore();

    /** The default timeout for one command to the VMM. */
    Duration commandTimeout();

    /**
     * A named option. Known keys: {@code endpoint} (connect to this VMM endpoint,
     * e.g. an API socket of a simulator, instead of spawning the binary).
     */
    Optional<String> option(String key);
}
