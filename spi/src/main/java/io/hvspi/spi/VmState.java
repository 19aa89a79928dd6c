package io.hvspi.spi;

/** Where a VM is in its life. */
public enum VmState {
    /** Made by the factory, VMM not started. */
    CREATED,
    /** The guest runs. */
    RUNNING,
    /** vCPUs are stopped; the VMM answers and devices can be hotplugged. */
    PAUSED,
    /** Stopped on purpose; the VMM process is gone. */
    STOPPED,
    /** The VMM died or became unusable without being asked to stop. */
    FAILED
}
