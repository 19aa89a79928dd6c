package io.hvspi.spi;

import java.time.Duration;
import java.util.List;

/**
 * Network device hotplug on a running (or paused) VM.
 *
 * <p>The guarantees are those of {@link DeviceHotplug}: a failed attach leaves nothing
 * behind (no host backend such as a QEMU netdev, no slot, no tap hvspi created for it),
 * ids follow the same grammar and share one namespace with block devices, detach returns
 * only after the VMM confirmed the device is gone (or throws when the timeout passes),
 * and a detach of an unknown id is refused with {@code NOT_FOUND}. A tap the plugin
 * created ({@link NetBackend.Tap#create()}) is removed on detach and when the VM stops;
 * a tap the caller brought is never touched.
 */
public interface NetworkHotplug {

    /**
     * Attaches a network device. A spec with more than one queue pair on a VMM without
     * {@link Capability#MULTI_QUEUE} fails with {@link UnsupportedCapabilityException} naming
     * {@code MULTI_QUEUE} and leaves nothing; with it, the device has the queue pairs asked for.
     *
     * <p>Refused with {@link RequestRejectedException}: {@code DUPLICATE_ID} for an id an
     * attached device has (block or network), {@code INVALID_ARGUMENT} for an id outside the
     * VMM's grammar and for a multicast or malformed MAC; nothing is attached then.
     */
    NetDevice attach(NetDeviceSpec spec);

    /** Detaches a device, waiting up to {@code timeout} for the VMM to confirm. */
    void detach(String deviceId, Duration timeout);

    default void detach(String deviceId) {
        detach(deviceId, DeviceHotplug.DEFAULT_DETACH_TIMEOUT);
    }

    /** The attached (hotplugged) network devices, in attach order. */
    List<NetDevice> list();
}
