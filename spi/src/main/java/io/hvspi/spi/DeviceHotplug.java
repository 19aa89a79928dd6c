package io.hvspi.spi;

import java.time.Duration;
import java.util.List;

/**
 * Block device hotplug on a running (or paused) VM.
 *
 * <p>A plugin must guarantee that a failed attach leaves nothing behind (no
 * backend node, no reserved IOThread or slot), that detach returns only after
 * the VMM confirmed the device is gone (or throws when the timeout passes), and
 * that it never sends a command sequence known to crash its VMM.
 */
public interface DeviceHotplug {

    /** The default wait for the guest and the VMM to release a device. */
    Duration DEFAULT_DETACH_TIMEOUT = Duration.ofSeconds(10);

    /**
     * Attaches a block device. The IOThread is chosen as {@code spec.ioThread()}
     * says; a choice the VMM cannot honour (vq-mapping on a VMM without it, any
     * IOThread on a VMM without a pool) fails with
     * {@link UnsupportedCapabilityException} and attaches nothing.
     *
     * <p>Refused with {@link RequestRejectedException}: {@code DUPLICATE_ID} for an id an
     * attached device has (block or network: one id namespace per VM), {@code INVALID_ARGUMENT}
     * for an id outside the VMM's id grammar (e.g. {@code bad,id=1}), {@code NOT_FOUND} for a
     * {@link IOThreadChoice.Named} IOThread the pool does not have.
     */
    BlockDevice attach(BlockDeviceSpec spec);

    /**
     * Detaches a device, waiting up to {@code timeout} for the VMM to confirm. Refused with
     * {@link RequestRejectedException} ({@code NOT_FOUND}) for an id no attached block device has.
     */
    void detach(String deviceId, Duration timeout);

    default void detach(String deviceId) {
        detach(deviceId, DEFAULT_DETACH_TIMEOUT);
    }

    /** The attached (hotplugged) devices, in attach order. */
    List<BlockDevice> list();

    /**
     * Moves a device to another IOThread. Needs {@link Capability#IOTHREAD_MOVE}.
     * May be visible to the guest (QEMU: an unplug and replug of the same backend).
     */
    BlockDevice move(String deviceId, IOThreadChoice target);
}
