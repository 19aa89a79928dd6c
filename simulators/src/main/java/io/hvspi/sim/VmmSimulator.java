package io.hvspi.sim;

/**
 * A stand-in for a VMM that cannot run on this machine, speaking the VMM's real
 * wire protocol. A plugin is pointed at it through the host option
 * {@code endpoint} instead of spawning the VMM binary; plugin tests,
 * {@code hvctl compat} and {@code hvctl run --simulate} share it.
 */
public interface VmmSimulator extends AutoCloseable {

    /** The Kata hypervisor type it stands in for, e.g. {@code clh}. */
    String hypervisorType();

    /** What the plugin connects to (for both simulators: a Unix socket path). */
    String endpoint();

    /** Stops serving and removes the socket. */
    @Override
    void close();
}
