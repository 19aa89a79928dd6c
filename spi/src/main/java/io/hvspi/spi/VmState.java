package io.hvspi.spi;

/** Where a VM is in its life. */
public enum VmState {
    /** Made by the factory, VMM not started. */
    CREATED,
    /** The guest runs. */
    RUNNING,
    /**
     * vCPUs are stopped; the VMM answers. Hotplug works where the VMM allows it without the
     * guest (QEMU does); a VMM that needs the guest to acknowledge it refuses with a one-line
     * error and leaves nothing behind (Dragonball: its upcall server cannot answer).
     */
    PAUSED,
    /** Stopped on purpose; the VMM process is gone. */
    STOPPED,
    /**
     * The VMM died or became unusable without being asked to stop. Subscribers got
     * {@link VmEvent#VMM_EXITED}; calls that need the VMM throw {@link VmmUnavailableException}, and
     * so does {@link HypervisorFactory#reattach} with the VM's record.
     */
    FAILED
}
