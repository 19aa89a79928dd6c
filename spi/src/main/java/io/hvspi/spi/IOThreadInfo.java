package io.hvspi.spi;

import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * One IOThread as the VMM reports it.
 *
 * @param id the VMM's id, e.g. {@code indep_iothread_0}
 * @param kind whether it belongs to the pool or to one controller
 * @param hostThreadId the host thread id (for cgroups and pinning), when known
 * @param devices ids of the devices that use it, in attach order
 * @param polling its polling parameters, when the VMM reports them
 */
public record IOThreadInfo(String id, Kind kind, OptionalLong hostThreadId, List<String> devices,
                           Optional<PollingParams> polling) {

    /** Where an IOThread comes from. */
    public enum Kind {
        /** Part of the independent pool; devices attach and detach. */
        POOL,
        /** Dedicated to one controller for the VM's life (Kata's virtio-scsi IOThread). */
        CONTROLLER
    }

    public IOThreadInfo {
        devices = List.copyOf(devices);
    }

    /** How many devices use it. */
    public int load() {
        return devices.size();
    }
}
