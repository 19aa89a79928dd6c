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
 * @param affinity the host thread's CPU set as the kernel has it now ({@code Cpus_allowed_list}),
 *                 read on every listing, never remembered; empty when the thread cannot be seen
 * @param pinned the CPU set hvspi was asked to pin it to (recorded with the VM), empty when not pinned
 * @since SPI 1.1
 */
public record IOThreadInfo(String id, Kind kind, OptionalLong hostThreadId, List<String> devices,
                           Optional<PollingParams> polling, Optional<CpuSet> affinity, Optional<CpuSet> pinned) {

    /** Where an IOThread comes from. */
    public enum Kind {
        /** Part of the independent pool; devices attach and detach. */
        POOL,
        /** Dedicated to one controller for the VM's life (Kata's virtio-scsi IOThread). */
        CONTROLLER
    }

    public IOThreadInfo {
        devices = List.copyOf(devices);
        affinity = affinity == null ? Optional.empty() : affinity;
        pinned = pinned == null ? Optional.empty() : pinned;
    }

    /** An IOThread with neither affinity nor pin reported (the SPI 1.0 form). */
    public IOThreadInfo(String id, Kind kind, OptionalLong hostThreadId, List<String> devices,
                        Optional<PollingParams> polling) {
        this(id, kind, hostThreadId, devices, polling, Optional.empty(), Optional.empty());
    }

    /** How many devices use it. */
    public int load() {
        return devices.size();
    }
}
