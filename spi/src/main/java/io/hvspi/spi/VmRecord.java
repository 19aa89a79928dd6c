package io.hvspi.spi;

import java.nio.file.Path;
import java.time.Instant;
import java.util.Objects;

/**
 * What the host remembers about a started VM, so that another process can
 * reattach. Written atomically by {@link VmStateStore}.
 *
 * @param vmId the VM's id
 * @param hypervisorType the factory type that started it
 * @param pid the VMM's process id (0 when it has none of its own)
 * @param runtimeDir the VM's private runtime directory
 * @param createdAt when it was started
 * @param pluginState the plugin's own state (sockets, devices, pool) as a JSON document; opaque to the host
 */
public record VmRecord(String vmId, String hypervisorType, long pid, Path runtimeDir, Instant createdAt,
                       String pluginState) {
    public VmRecord {
        Objects.requireNonNull(vmId, "vmId");
        Objects.requireNonNull(hypervisorType, "hypervisorType");
        Objects.requireNonNull(runtimeDir, "runtimeDir");
        Objects.requireNonNull(createdAt, "createdAt");
        Objects.requireNonNull(pluginState, "pluginState");
    }

    /** A copy with new plugin state. */
    public VmRecord withPluginState(String newState) {
        return new VmRecord(vmId, hypervisorType, pid, runtimeDir, createdAt, newState);
    }
}
