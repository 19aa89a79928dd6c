package io.hvspi.spi;

import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * One virtual machine on one VMM.
 *
 * <p>A plugin must guarantee:
 * <ul>
 *   <li>Every call returns or throws within its timeout; a VMM that died or
 *       hangs gives {@link VmmUnavailableException}, never a hang.</li>
 *   <li>The VMM's own errors surface as {@link VmmException} with the VMM's text;
 *       refusals by the framework as {@link RequestRejectedException}.</li>
 *   <li>{@link #ioThreads()} and {@link #hotplug()} are present exactly when the
 *       matching capability ({@link Capability#INDEPENDENT_IOTHREADS},
 *       {@link Capability#BLOCK_DEVICE_HOTPLUG}) is in {@link #capabilities()}.</li>
 *   <li>Instances are safe for use from several threads.</li>
 *   <li>{@link #close()} only disconnects: a started VM keeps running (and can be
 *       reattached through its {@link VmRecord}) until {@link #stop()}.</li>
 * </ul>
 */
public interface Hypervisor extends AutoCloseable {

    /** The VM's id, unique on this host; also its runtime directory's name. */
    String vmId();

    /** The factory type that made this VM, e.g. {@code qemu}. */
    String type();

    /**
     * Starts the VMM and the VM. Without a guest kernel a VMM that can do so
     * starts paused, and hotplug still works. Afterwards the VM is {@link VmState#RUNNING}
     * or {@link VmState#PAUSED} and recorded in the state store.
     *
     * <p>Once only: a second {@code start()} of a started VM is refused with an
     * {@link HvspiException} in one line ({@link RequestRejectedException} {@code INVALID_STATE}
     * is the usual one) and changes nothing, the state included.
     */
    void start();

    /**
     * Stops the VM and the VMM process (gracefully, then by force after a
     * timeout), removes its runtime directory and state record. Idempotent.
     *
     * <p>Afterwards the VM is {@link VmState#STOPPED} and its VMM is gone for real: a
     * {@link HypervisorFactory#reattach} with the record as it was before the stop throws
     * {@link VmmUnavailableException} (a stop that forgets a VMM still running, e.g. one the
     * plugin only connected to through the {@code endpoint} option, breaks this). Subscribers
     * receive exactly one {@link VmEvent#VMM_EXITED}, as the last event.
     *
     * <p>When the VMM cannot be proven gone (one reached at an endpoint, with no process to
     * signal, that did not confirm the shutdown and still accepts connections), the stop throws
     * {@link VmmUnavailableException} ({@code TIMED_OUT}, one line naming the VM), keeps the record
     * and the runtime directory, and leaves the VM as it was, so that a later stop tries again.
     */
    void stop();

    /**
     * Stops the vCPUs; the VM becomes {@link VmState#PAUSED}. Refused on a VM that is not
     * started or is stopped ({@link RequestRejectedException} {@code INVALID_STATE}, or
     * {@link VmmUnavailableException}), in one line. When the VMM died, throws
     * {@link VmmUnavailableException} within the command timeout.
     */
    void pause();

    /**
     * Lets the vCPUs run again; the VM becomes {@link VmState#RUNNING}. Refused like
     * {@link #pause()} on a VM that is not started, stopped, or whose VMM died.
     */
    void resume();

    /**
     * Where the VM is: {@link VmState#CREATED} after create, {@link VmState#RUNNING} or
     * {@link VmState#PAUSED} after start (and as {@link #pause()} and {@link #resume()} leave
     * it), {@link VmState#STOPPED} after {@link #stop()}, and {@link VmState#FAILED} once the
     * VMM died without being asked to stop (within seconds of its death, also with no other
     * call made meanwhile). These values are what the compatibility kit checks.
     *
     * <p>Answers within the command timeout. For {@code CREATED}, {@code STOPPED} and
     * {@code FAILED} it answers from what the plugin knows; for a started VM a plugin may ask its
     * VMM, and a VMM that is gone reads {@code FAILED}. The SPI does not promise that this
     * method never throws: a plugin may throw {@link VmmUnavailableException}
     * ({@code TIMED_OUT}, {@code PROTOCOL_ERROR}) when its VMM is there but does not answer
     * properly, so callers that poll it should be ready for that.
     */
    VmState state();

    /** The effective capabilities: declared, narrowed by probing the running binary. */
    Set<Capability> capabilities();

    default boolean supports(Capability capability) {
        return capabilities().contains(capability);
    }

    /** The VMM's host process and threads (main, vCPUs, IO threads), for cgroups and pinning. */
    HostThreads hostThreads();

    /**
     * Delivers the VMM's events (e.g. {@code DEVICE_DELETED}, {@code SHUTDOWN})
     * and hvspi's {@code VMM_EXITED} to the listener, on a thread that is not the
     * caller's, until the subscription is closed.
     *
     * <p>When the VMM goes away, whether by {@link #stop()} or by dying behind the plugin's
     * back, the listener receives {@link VmEvent#VMM_EXITED} exactly once, within seconds, and
     * nothing after it.
     */
    Subscription subscribe(Consumer<VmEvent> listener);

    /** The independent IOThread pool, where the VMM has one. */
    Optional<IOThreadProvider> ioThreads();

    /** Block device hotplug, where supported. */
    Optional<DeviceHotplug> hotplug();

    /** {@link #ioThreads()}, or the uniform unsupported error. */
    default IOThreadProvider requireIoThreads() {
        return ioThreads().orElseThrow(
                () -> new UnsupportedCapabilityException(Capability.INDEPENDENT_IOTHREADS, type()));
    }

    /** {@link #hotplug()}, or the uniform unsupported error. */
    default DeviceHotplug requireHotplug() {
        return hotplug().orElseThrow(
                () -> new UnsupportedCapabilityException(Capability.BLOCK_DEVICE_HOTPLUG, type()));
    }

    /**
     * Network device hotplug, where supported: present exactly when
     * {@link Capability#NETWORK_DEVICE_HOTPLUG} is in {@link #capabilities()}.
     * Empty by default, for plugins written before SPI 1.1.
     */
    default Optional<NetworkHotplug> networkHotplug() {
        return Optional.empty();
    }

    /** {@link #networkHotplug()}, or the uniform unsupported error. */
    default NetworkHotplug requireNetworkHotplug() {
        return networkHotplug().orElseThrow(
                () -> new UnsupportedCapabilityException(Capability.NETWORK_DEVICE_HOTPLUG, type()));
    }

    /**
     * Disconnects from the VMM; the VM keeps running. Never throws: not when called twice,
     * not after {@link #stop()}, not on a VM that was only created.
     */
    @Override
    void close();

    /** An event subscription; closing it stops delivery. */
    interface Subscription extends AutoCloseable {
        @Override
        void close();
    }
}
