package io.hvspi.plugin.qemu.hotplug;

import io.hvspi.kit.device.MacAddresses;
import io.hvspi.plugin.qemu.cmdline.QemuIds;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.qmp.QmpEvent;
import io.hvspi.plugin.qemu.qmp.QmpListener;
import io.hvspi.plugin.qemu.state.Intent;
import io.hvspi.plugin.qemu.state.NicState;
import io.hvspi.plugin.qemu.state.PendingIntents;
import io.hvspi.spi.Capability;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.NetBackend;
import io.hvspi.spi.NetDevice;
import io.hvspi.spi.NetDeviceSpec;
import io.hvspi.spi.NetworkHotplug;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * NIC hotplug on a q35 QEMU, on the same root ports as block devices.
 *
 * <ul>
 *   <li>Attach: create the tap when asked ({@link HostTaps}), {@code netdev_add} of the tap,
 *       {@code device_add} of a virtio-net-pci onto a free root port; {@code netdev_del}
 *       (and removal of the tap hvspi made) when the device fails. The attach's intent is
 *       saved before the first step, so that a process dying between the steps leaves a
 *       record the next reattach settles ({@code NicReconciler}).</li>
 *   <li>Detach: {@code device_del}, QEMU's {@code DEVICE_DELETED}, {@code netdev_del}, then
 *       removal of the tap when hvspi made it. The device's {@code unplugging} mark is the
 *       detach's intent. Without a guest, QEMU 7.2 completes a PCIe unplug only on a reset,
 *       so hvspi sends {@code system_reset} there. A {@code DEVICE_DELETED} that comes after
 *       the wait timed out still completes the detach.</li>
 * </ul>
 */
public final class QemuNetworkHotplug implements NetworkHotplug {
    private static final Logger LOG = LoggerFactory.getLogger(QemuNetworkHotplug.class);
    /** QEMU's virtio-net allows at most VIRTIO_QUEUE_MAX / 2 - 1 queue pairs (one queue is the control queue). */
    public static final int MAX_QUEUES = 511;

    private final String type;
    private final QmpClient qmp;
    private final Object lock;
    private final DeviceTable table;
    private final boolean guestless;
    private final Set<Capability> capabilities;
    private final boolean vhost;
    private final PendingIntents intents;
    private final Runnable persist;
    private final BooleanSupplier removed;
    private final Map<String, CompletableFuture<Void>> released = new ConcurrentHashMap<>();
    private final Set<String> finishing = ConcurrentHashMap.newKeySet();
    private final QmpClient.Subscription events;

    /**
     * @param lock the monitor {@code table} uses
     * @param vhost ask QEMU for vhost-net (only where {@link VhostNet#usable()})
     * @param persist saves the VM's state; called with {@code lock} held after each confirmed change
     * @param removed whether the VM's stop has removed the taps hvspi made for it (read with {@code lock} held)
     */
    public QemuNetworkHotplug(String type, QmpClient qmp, Object lock, DeviceTable table, boolean guestless,
                              Set<Capability> capabilities, boolean vhost, PendingIntents intents, Runnable persist,
                              BooleanSupplier removed) {
        this.type = type;
        this.qmp = qmp;
        this.lock = lock;
        this.table = table;
        this.guestless = guestless;
        this.capabilities = Set.copyOf(capabilities);
        this.vhost = vhost;
        this.intents = intents;
        this.persist = persist;
        this.removed = removed;
        this.events = qmp.subscribe(new QmpListener() {
            @Override
            public void onEvent(QmpEvent event) {
                if ("DEVICE_DELETED".equals(event.name())) {
                    String id = event.data().path("device").asText(null);
                    if (id != null && table.nic(id).isPresent()) {
                        deviceDeleted(id);
                    }
                }
            }

            @Override
            public void onDisconnect(VmmUnavailableException cause) {
                released.values().forEach(f -> f.completeExceptionally(cause));
            }
        });
    }

    /** Stops listening for QEMU's events. */
    public void close() {
        events.close();
    }

    @Override
    public NetDevice attach(NetDeviceSpec spec) {
        QemuIds.check(spec.id(), "device");
        int queues = spec.queues();
        if (queues > 1 && !capabilities.contains(Capability.MULTI_QUEUE)) {
            throw new UnsupportedCapabilityException(Capability.MULTI_QUEUE, type, "network device '" + spec.id() + "'");
        }
        if (queues > MAX_QUEUES) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "a virtio-net-pci device has at most "
                    + MAX_QUEUES + " queue pairs, got " + queues);
        }
        NetBackend.Tap tap = switch (spec.backend()) {
            case NetBackend.Tap t -> t;
        };
        if (!tap.create() && !HostTaps.exists(tap.name())) {
            throw new RequestRejectedException(Reason.NOT_FOUND, "host tap '" + tap.name() + "' does not exist"
                    + " (create it, or ask hvspi to)");
        }
        if (!tap.create() && queues > 1 && HostTaps.multiQueue(tap.name()).filter(mq -> !mq).isPresent()) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "host tap '" + tap.name() + "' has one"
                    + " queue; " + queues + " queue pairs need a tap made with 'ip tuntap add ... multi_queue'");
        }
        String port;
        String mac;
        synchronized (lock) {
            Set<String> taken = new HashSet<>();
            table.nics().forEach(n -> taken.add(n.mac()));
            mac = spec.mac().map(m -> MacAddresses.check(type, m)).orElseGet(() -> MacAddresses.generate(taken));
            port = table.reserveNic(spec.id());
        }
        NicState planned = new NicState(spec.id(), NetArgs.netdevId(spec.id()), tap.name(), tap.create(), mac, queues,
                port, false);
        Intent intent = Intent.nicAttach(planned);
        try {
            intents.beginLogged(intent);
        } catch (RuntimeException e) {
            table.releaseNic(spec.id());
            throw e;
        }
        boolean done = false;
        boolean keepIntent = false;
        boolean late = false;
        try {
            if (tap.create()) {
                HostTaps.create(tap.name(), queues);
                synchronized (lock) {
                    if (removed.getAsBoolean()) {
                        // the VM's stop removed its taps before this one existed: it is this attach's to remove
                        HostTaps.removeQuietly(tap.name());
                        throw new RequestRejectedException(Reason.INVALID_STATE, "attach of network device '"
                                + spec.id() + "': the VM was stopped meanwhile");
                    }
                }
            }
            QmpClient.Call netdevCall = null;
            QmpClient.Call deviceCall = null;
            try {
                netdevCall = qmp.submit("netdev_add", NetArgs.netdevAdd(planned.netdev(), planned.tap(), queues,
                        vhost));
                deviceCall = qmp.submit("device_add", NetArgs.virtioNetPci(planned.id(), planned.netdev(),
                        planned.bus(), planned.mac(), queues));
                awaitPlugged(planned, netdevCall, deviceCall);
            } catch (VmmUnavailableException e) {
                keepIntent = true;
                if (e.reason() == VmmUnavailableException.Reason.TIMED_OUT && deviceCall != null) {
                    // QEMU may still add it when it wakes up: the id and port stay reserved until it answered,
                    // then what it added goes again (as for a disk)
                    late = true;
                    undoWhenAnswered(planned, netdevCall, deviceCall, intent);
                    throw new VmmUnavailableException(e.reason(), "attach of network device '" + spec.id() + "': "
                            + e.getMessage() + "; should QEMU still add it, hvspi removes it again, and holds the id"
                            + " and its port until then", e);
                }
                // the connection ended: the next reattach settles the intent against what QEMU has
                throw new VmmUnavailableException(e.reason(), "attach of network device '" + spec.id() + "': "
                        + e.getMessage() + "; the attach stays recorded as unfinished, and the next reattach settles"
                        + " it", e);
            } catch (RuntimeException e) {
                if (tap.create()) {
                    HostTaps.removeQuietly(tap.name());
                }
                throw e;
            }
            synchronized (lock) {
                table.confirmNic(planned);
                // the outcome is a log line, not a record save: see IntentLog
                if (intents.finish(intent, null)) {
                    persist.run();
                }
            }
            done = true;
        } finally {
            if (!done) {
                if (!late) {
                    table.releaseNic(spec.id());
                }
                if (!keepIntent) {
                    intents.endAndSave(intent, persist);
                }
            }
        }
        return toNetDevice(planned);
    }

    /** Waits for netdev_add and device_add, both in flight at once; the netdev is deleted again when the device fails. */
    private void awaitPlugged(NicState nic, QmpClient.Call netdevCall, QmpClient.Call deviceCall) {
        long deadline = System.nanoTime() + qmp.defaultTimeout().toNanos();
        try {
            qmp.await(netdevCall, UnplugWait.left(deadline));
        } catch (VmmException e) {
            try {
                qmp.await(deviceCall, UnplugWait.left(deadline));
                // another client made a netdev of that name: the device must not stay on it
                LOG.error("network device '{}' was added on a netdev hvspi did not create; unplugging it", nic.id());
                qmp.execute("device_del", QmpClient.args().put("id", nic.id()));
            } catch (HvspiException expected) {
                e.addSuppressed(expected);
            }
            throw e;
        }
        try {
            qmp.await(deviceCall, UnplugWait.left(deadline));
        } catch (VmmException e) {
            try {
                qmp.execute("netdev_del", QmpClient.args().put("id", nic.netdev()));
            } catch (HvspiException undo) {
                e.addSuppressed(undo);
            }
            throw e;
        }
    }

    /** The late undo of an attach that timed out (see {@link LateAttachUndo}); the tap hvspi made goes too. */
    private void undoWhenAnswered(NicState nic, QmpClient.Call netdevCall, QmpClient.Call deviceCall, Intent intent) {
        LateAttachUndo.whenAnswered(qmp, guestless, nic.id(), netdevCall, deviceCall,
                () -> qmp.execute("netdev_del", QmpClient.args().put("id", nic.netdev())),
                () -> table.releaseNic(nic.id()),
                () -> {
                    if (nic.createdTap()) {
                        HostTaps.removeQuietly(nic.tap());
                    }
                    intents.endAndSave(intent, persist);
                });
    }

    @Override
    public void detach(String deviceId, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        NicState nic;
        CompletableFuture<Void> gone;
        synchronized (lock) {
            nic = table.requireNic(deviceId);
            gone = released.computeIfAbsent(deviceId, k -> new CompletableFuture<>());
            if (!nic.unplugging()) {
                // the mark is the detach's intent: saved before device_del, cleared with the device
                table.replaceNic(nic.withUnplugging(true));
                persist.run();
            }
        }
        try {
            qmp.execute("device_del", QmpClient.args().put("id", deviceId), UnplugWait.bounded(qmp, deadline));
        } catch (VmmException e) {
            if ("DeviceNotFound".equals(e.errorClass())) {
                deviceDeleted(deviceId);
                return;
            }
            if (!e.vmmMessage().contains("already in the process of unplug")) {
                unplugRefused(deviceId, gone);
                throw e;
            }
        } catch (VmmUnavailableException e) {
            // QEMU may still unplug it: the mark stays, and a later DEVICE_DELETED or reattach finishes the detach
            throw new VmmUnavailableException(e.reason(), "detach of network device '" + deviceId + "': "
                    + e.getMessage() + "; the unplug stays pending", e);
        }
        if (guestless) {
            // without a guest nobody answers the PCIe attention button; QEMU 7.2 completes pending unplugs on reset
            qmp.execute("system_reset", null, UnplugWait.bounded(qmp, deadline));
        }
        UnplugWait.await(qmp, gone, "detach of network device '" + deviceId + "'", UnplugWait.left(deadline));
    }

    private void unplugRefused(String deviceId, CompletableFuture<Void> gone) {
        synchronized (lock) {
            released.remove(deviceId, gone);
            table.nic(deviceId).ifPresent(n -> table.replaceNic(n.withUnplugging(false)));
            persist.run();
        }
    }

    /** QEMU removed the device: drop its netdev and the tap hvspi made, then the record. Runs once per device. */
    private void deviceDeleted(String id) {
        NicState nic = table.nic(id).orElse(null);
        if (nic == null || !finishing.add(id)) {
            return;
        }
        try {
            if (!nic.unplugging() && !released.containsKey(id)) {
                LOG.warn("network device '{}' was removed without a detach; removing its netdev '{}'", id,
                        nic.netdev());
            }
            try {
                qmp.execute("netdev_del", QmpClient.args().put("id", nic.netdev()));
            } catch (HvspiException e) {
                LOG.warn("network device '{}' is gone, but its netdev '{}' stays: {}", id, nic.netdev(),
                        e.getMessage());
            }
            if (nic.createdTap()) {
                HostTaps.removeQuietly(nic.tap());
            }
            synchronized (lock) {
                table.removeNic(id);
                persist.run();
            }
        } finally {
            finishing.remove(id);
        }
        CompletableFuture<Void> f = released.remove(id);
        if (f != null) {
            f.complete(null);
        }
    }

    @Override
    public List<NetDevice> list() {
        return table.nics().stream().map(QemuNetworkHotplug::toNetDevice).toList();
    }

    /** The SPI view of a recorded NIC. */
    public static NetDevice toNetDevice(NicState n) {
        return new NetDevice(n.id(), n.mac(), new NetBackend.Tap(n.tap(), n.createdTap()), n.queues(),
                Optional.of(n.bus() + ":00.0"));
    }
}
