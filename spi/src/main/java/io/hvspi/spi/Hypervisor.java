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
     * starts paused, and hotplug still works. Afterwards the VM is recorded in the
     * state store.
     */
    void start();

    /**
     * Stops the VM and the VMM process (gracefully, then by force after a
     * timeout), removes its runtime directory and state record. Idempotent.
     */
    void stop();

    void pause();

    void resume();

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

    /** Disconnects from the VMM; the VM keeps running. Never throws. */
    @Override
    void close();

    /** An event subscription; closing it stops delivery. */
    interface Subscription extends AutoCloseable {
        @Override
        void close();
    }
}
