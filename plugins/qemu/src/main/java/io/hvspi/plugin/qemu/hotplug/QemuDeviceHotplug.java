package io.hvspi.plugin.qemu.hotplug;

import io.hvspi.plugin.qemu.cmdline.BlockDriver;
import io.hvspi.plugin.qemu.cmdline.QemuIds;
import io.hvspi.plugin.qemu.iothread.IOThreadPool;
import io.hvspi.plugin.qemu.iothread.IOThreadPool.Reservation;
import io.hvspi.plugin.qemu.qmp.QemuVersion;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.qmp.QmpEvent;
import io.hvspi.plugin.qemu.qmp.QmpListener;
import io.hvspi.plugin.qemu.state.DeviceState;
import io.hvspi.plugin.qemu.state.Intent;
import io.hvspi.plugin.qemu.state.PendingIntents;
import io.hvspi.plugin.qemu.state.QemuSettings;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Capability;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Block hotplug on a q35 QEMU.
 *
 * <ul>
 *   <li>Attach: {@code blockdev-add}, then {@code device_add} onto a free root port
 *       (virtio-blk-pci, with its IOThread) or onto the virtio-scsi bus (scsi-hd);
 *       {@code blockdev-del} when the device fails. The IOThread and the place are
 *       reserved first and become the device's only when QEMU confirmed it.</li>
 *   <li>Detach: {@code device_del}, then QEMU's {@code DEVICE_DELETED}, then
 *       {@code blockdev-del}. A PCIe unplug needs the guest's consent; a VM without
 *       a guest cannot give it, and QEMU 7.2 completes the pending unplug only on a
 *       reset, so hvspi sends {@code system_reset} there (nothing runs that a reset
 *       could disturb).</li>
 *   <li>Move: the same unplug, then {@code device_add} of the same node with the new
 *       IOThread. Never {@code x-blockdev-set-iothread}: QEMU 7.2 refuses it on an
 *       attached node, and aborts when a node moved that way is attached to a device
 *       on another IOThread.</li>
 * </ul>
 * A {@code DEVICE_DELETED} that arrives after a detach timed out still completes the
 * detach, so the accounting follows QEMU.
 */
public final class QemuDeviceHotplug implements DeviceHotplug {
    private static final Logger LOG = LoggerFactory.getLogger(QemuDeviceHotplug.class);
    private static final Pattern FORMAT = Pattern.compile("[a-z0-9]+");
    /** VIRTIO_QUEUE_MAX: QEMU 7.2 aborts on a virtio-blk-pci device_add with more queues. */
    public static final int MAX_QUEUES = 1024;

    private final String type;
    private final QmpClient qmp;
    private final Object lock;
    private final IOThreadPool pool;
    private final DeviceTable table;
    private final QemuSettings settings;
    private final Optional<String> scsiIoThread;
    private final Set<Capability> capabilities;
    private final QemuVersion version;
    private final PendingIntents intents;
    private final Runnable persist;
    private final Map<String, CompletableFuture<Void>> released = new ConcurrentHashMap<>();
    /** Devices whose removal is being completed, so that it runs once. */
    private final Set<String> finishing = ConcurrentHashMap.newKeySet();
    private final QmpClient.Subscription events;

    /**
     * @param type the hypervisor type, for errors
     * @param lock the monitor {@code pool} and {@code table} share
     * @param intents the VM's operations in flight; each operation records its intent there and logs it before
     *                its first QMP command, and ends it in the save that records its outcome
     * @param persist saves the VM's state; called with {@code lock} held after each confirmed change
     */
    public QemuDeviceHotplug(String type, QmpClient qmp, Object lock, IOThreadPool pool, DeviceTable table,
                             QemuSettings settings, Optional<String> scsiIoThread, Set<Capability> capabilities,
                             QemuVersion version, PendingIntents intents, Runnable persist) {
        this(type, qmp, lock, pool, table, settings, scsiIoThread, capabilities, version, intents, persist, List.of());
    }

    /**
     * @param unfinished moves an earlier process left after its {@code device_del}, whose unplug the guest has
     *                   not completed yet (a reattach's {@code Reconciler.Result#unfinished}): each device stays
     *                   recorded where QEMU has it, being moved (a detach or another move is refused), with the
     *                   move's intent in the record; when QEMU reports it deleted it is plugged in on the move's
     *                   target, else back where it was, as the move would have done (the pending unplug would
     *                   otherwise drop the disk). They are marked as moving before QEMU's events are heard, and
     *                   QEMU is asked whether it still has each device once they are: a DEVICE_DELETED that came
     *                   before either point is not missed
     */
    public QemuDeviceHotplug(String type, QmpClient qmp, Object lock, IOThreadPool pool, DeviceTable table,
                             QemuSettings settings, Optional<String> scsiIoThread, Set<Capability> capabilities,
                             QemuVersion version, PendingIntents intents, Runnable persist, List<Intent> unfinished) {
        this.type = type;
        this.qmp = qmp;
        this.lock = lock;
        this.pool = pool;
        this.table = table;
        this.settings = settings;
        this.scsiIoThread = scsiIoThread;
        this.capabilities = Set.copyOf(capabilities);
        this.version = version;
        this.intents = intents;
        this.persist = persist;
        // the moves are marked as moving before the events are heard: a DEVICE_DELETED from now on ends their wait,
        // never drops the device as "removed without a detach"
        List<Resumed> resumed = unfinished.stream().map(this::takeOnMove).filter(r -> r != null).toList();
        this.events = qmp.subscribe(new QmpListener() {
            @Override
            public void onEvent(QmpEvent event) {
                onQmpEvent(event);
            }

            @Override
            public void onDisconnect(VmmUnavailableException cause) {
                released.values().forEach(f -> f.completeExceptionally(cause));
            }
        });
        resumed.forEach(this::resume);
    }

    /** Stops listening for QEMU's events. */
    public void close() {
        events.close();
    }

    @Override
    public BlockDevice attach(BlockDeviceSpec spec) {
        QemuIds.check(spec.id(), "device");
        String driverName = spec.driver().orElse(settings.blockDriver());
        BlockDriver driver = BlockDriver.fromName(driverName).orElseThrow(() -> new RequestRejectedException(
                Reason.INVALID_ARGUMENT, "hvspi hotplugs virtio-blk-pci and virtio-scsi disks, not '"
                        + QemuIds.shown(driverName) + "'"));
        if (!spec.queueAffinity().isEmpty()) {
            throw new UnsupportedCapabilityException(Capability.QUEUE_AFFINITY, type,
                    "QEMU queues run on IOThreads; place those instead");
        }
        checkChoice(spec.ioThread(), driver);
        if (!FORMAT.matcher(spec.format()).matches()) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT,
                    "invalid image format '" + QemuIds.shown(spec.format()) + "'");
        }
        boolean hostDevice = checkBackend(spec);
        int queues = queues(spec, driver);

        DeviceTable.Slot slot;
        Reservation reservation;
        synchronized (lock) {
            slot = table.reserve(spec.id(), driver);
            try {
                reservation = driver == BlockDriver.SCSI_HD ? null : pool.reserve(spec.ioThread());
            } catch (RuntimeException e) {
                table.release(slot);
                throw e;
            }
        }
        List<String> ioThreads = reservation != null ? reservation.ioThreads() : scsiIoThread.stream().toList();
        DeviceState device = new DeviceState(spec.id(), driver.qemuDriver(), slot.nodeName(),
                spec.backend() instanceof BlockBackend.Null ? DeviceState.BACKEND_NULL : DeviceState.BACKEND_PATH,
                spec.backend() instanceof BlockBackend.HostPath p ? p.path().toString() : null,
                spec.backend() instanceof BlockBackend.Null n ? n.sizeBytes() : 0, spec.format(), spec.readOnly(),
                spec.direct() || settings.cacheDirect(), ioThreads, queues, slot.bus(), slot.lun(), false);
        Intent intent = Intent.attach(device);
        try {
            begin(intent);
        } catch (RuntimeException e) {
            release(slot, reservation);
            throw e;
        }
        try {
            attach(spec, driver, hostDevice, queues, slot, reservation, device, intent);
        } finally {
            // an attach QEMU may still carry out keeps its place, and its intent, until QEMU answers
            if (!table.isReserved(slot)) {
                end(intent);
            }
        }
        return toBlockDevice(device);
    }

    private void begin(Intent intent) {
        intents.beginLogged(intent);
    }

    private void end(Intent intent) {
        intents.endAndSave(intent, persist);
    }

    private void attach(BlockDeviceSpec spec, BlockDriver driver, boolean hostDevice, int queues,
                        DeviceTable.Slot slot, Reservation reservation, DeviceState device, Intent intent) {
        List<String> ioThreads = device.ioThreads();
        QmpClient.Call nodeCall = null;
        QmpClient.Call deviceCall = null;
        try {
            DeviceArgs.NodeOptions options = new DeviceArgs.NodeOptions(spec.format(), spec.readOnly(),
                    spec.direct() || settings.cacheDirect(), settings.cacheNoflush(), settings.aio());
            // both commands in flight at once: QEMU runs them in order, and a device_add whose node
            // QEMU refused fails on its own ("can't find value"), so nothing is lost by not waiting
            nodeCall = qmp.submit("blockdev-add",
                    DeviceArgs.blockdevAdd(slot.nodeName(), spec.backend(), hostDevice, options));
            deviceCall = qmp.submit("device_add", driver == BlockDriver.SCSI_HD
                    ? DeviceArgs.scsiHd(spec.id(), slot.nodeName(), slot.bus(), slot.lun())
                    : DeviceArgs.virtioBlkPci(spec.id(), slot.nodeName(), slot.bus(), ioThreads, queues));
            // one deadline for the pair: the attach fails within one command timeout
            long deadline = System.nanoTime() + qmp.defaultTimeout().toNanos();
            try {
                qmp.await(nodeCall, UnplugWait.left(deadline));
            } catch (VmmException e) {
                settle(deviceCall, spec.id(), e);
                throw e;
            }
            try {
                qmp.await(deviceCall, UnplugWait.left(deadline));
            } catch (VmmException e) {
                rollbackNode(slot.nodeName(), e);
                throw e;
            }
        } catch (VmmUnavailableException e) {
            if (!timedOut(e) || nodeCall == null || deviceCall == null) {
                release(slot, reservation);
                throw e;
            }
            String node = slot.nodeName();
            LateAttachUndo.whenAnswered(qmp, settings.guestless(), spec.id(), nodeCall, deviceCall,
                    () -> qmp.execute("blockdev-del", QmpClient.args().put("node-name", node)),
                    () -> release(slot, reservation), () -> end(intent));
            throw new VmmUnavailableException(e.reason(), "attach of device '" + spec.id() + "': " + e.getMessage()
                    + "; should QEMU still add it, hvspi removes it again, and holds the id and its place until then",
                    e);
        } catch (RuntimeException e) {
            release(slot, reservation);
            throw e;
        }
        synchronized (lock) {
            if (reservation != null) {
                pool.confirm(reservation, spec.id());
            } else {
                pool.restore(spec.id(), ioThreads);
            }
            table.confirm(slot, device);
            // the outcome is a log line, not a record save: see IntentLog
            if (intents.finish(intent, reservation != null ? pool.placedByPolicy() : null)) {
                persist.run();
            }
        }
    }

    private void release(DeviceTable.Slot slot, Reservation reservation) {
        synchronized (lock) {
            if (reservation != null) {
                pool.release(reservation);
            }
            table.release(slot);
        }
    }

    private void checkChoice(IOThreadChoice choice, BlockDriver driver) {
        boolean pooled = choice instanceof IOThreadChoice.Named || choice instanceof IOThreadChoice.VqMapped;
        if (pooled && !capabilities.contains(Capability.INDEPENDENT_IOTHREADS)) {
            throw new UnsupportedCapabilityException(Capability.INDEPENDENT_IOTHREADS, type,
                    settings.ioThreadsEnabled() ? "this QEMU has no IOThreads" : "enable_iothreads is false");
        }
        if (choice instanceof IOThreadChoice.VqMapped && !capabilities.contains(Capability.IOTHREAD_VQ_MAPPING)) {
            throw new UnsupportedCapabilityException(Capability.IOTHREAD_VQ_MAPPING, type,
                    "QEMU " + version + " has no iothread-vq-mapping on virtio-blk-pci (added in QEMU 9.0)");
        }
        if (driver == BlockDriver.SCSI_HD && !(choice instanceof IOThreadChoice.ByPolicy)) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT,
                    "a scsi-hd disk runs on its virtio-scsi controller's "
                            + scsiIoThread.map(t -> "IOThread '" + t + "'").orElse("main loop")
                            + "; only the default IOThread choice applies");
        }
    }

    /** Checks a host path backend; true when it is a block device. */
    private static boolean checkBackend(BlockDeviceSpec spec) {
        switch (spec.backend()) {
            case BlockBackend.Null n -> {
                if (!spec.format().equals("raw")) {
                    throw new RequestRejectedException(Reason.INVALID_ARGUMENT,
                            "the null backend has no image format; got '" + spec.format() + "'");
                }
                return false;
            }
            case BlockBackend.HostPath p -> {
                Path path = p.path();
                if (!path.isAbsolute()) {
                    throw new RequestRejectedException(Reason.INVALID_ARGUMENT,
                            "backend path " + QemuIds.printable(path.toString()) + " is not absolute");
                }
                if (Files.isRegularFile(path)) {
                    return false;
                }
                if (!Files.exists(path)) {
                    throw new RequestRejectedException(Reason.NOT_FOUND, "backend "
                            + QemuIds.printable(path.toString()) + " does not exist");
                }
                if (Files.isDirectory(path)) {
                    throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "backend "
                            + QemuIds.printable(path.toString()) + " is a directory");
                }
                return true;
            }
        }
    }

    private int queues(BlockDeviceSpec spec, BlockDriver driver) {
        if (driver == BlockDriver.SCSI_HD) {
            if (spec.queues().isPresent()) {
                throw new RequestRejectedException(Reason.INVALID_ARGUMENT,
                        "a scsi-hd disk has no queues of its own; they belong to the virtio-scsi controller");
            }
            return 1;
        }
        int mapped = spec.ioThread() instanceof IOThreadChoice.VqMapped v ? v.ids().size() : 1;
        // Kata's default: one queue per vCPU
        int queues = spec.queues().orElse(Math.max(settings.vcpus(), mapped));
        if (queues > 1 && !capabilities.contains(Capability.MULTI_QUEUE)) {
            throw new UnsupportedCapabilityException(Capability.MULTI_QUEUE, type);
        }
        if (queues > MAX_QUEUES) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "a virtio-blk-pci device has at most "
                    + MAX_QUEUES + " queues, got " + queues);
        }
        if (queues < mapped) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "vq-mapping over " + mapped
                    + " IOThreads needs at least as many queues, got " + queues);
        }
        return queues;
    }

    /**
     * Collects the reply of a {@code device_add} sent behind a {@code blockdev-add} that
     * failed. It fails too, since its node does not exist; should another client have
     * made a node of that name, the device is unplugged again.
     */
    private void settle(QmpClient.Call device, String deviceId, HvspiException cause) {
        try {
            qmp.await(device);
        } catch (HvspiException expected) {
            cause.addSuppressed(expected);
            return;
        }
        LOG.error("device '{}' was added on a block node hvspi did not create; unplugging it", deviceId);
        try {
            qmp.execute("device_del", QmpClient.args().put("id", deviceId));
            if (settings.guestless()) {
                qmp.execute("system_reset");
            }
        } catch (HvspiException e) {
            cause.addSuppressed(e);
        }
    }

    /**
     * A hung QEMU is not asked again: the call must end within one timeout. Should it
     * recover, it may still carry out what timed out (a node or device hvspi does not know).
     */
    private static boolean timedOut(Exception cause) {
        return cause instanceof VmmUnavailableException u && u.reason() == VmmUnavailableException.Reason.TIMED_OUT;
    }

    private void rollbackNode(String nodeName, Exception cause) {
        if (timedOut(cause)) {
            LOG.warn("not removing block node '{}' from a QEMU that does not answer; it may be left behind", nodeName);
            return;
        }
        try {
            qmp.execute("blockdev-del", QmpClient.args().put("node-name", nodeName));
        } catch (HvspiException e) {
            cause.addSuppressed(e);
        }
    }

    @Override
    public void detach(String deviceId, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        DeviceState device;
        CompletableFuture<Void> gone;
        synchronized (lock) {
            device = table.require(deviceId);
            if (table.isMoving(deviceId)) {
                throw new RequestRejectedException(Reason.INVALID_STATE, "device '" + deviceId + "' is being moved");
            }
            gone = released.computeIfAbsent(deviceId, k -> new CompletableFuture<>());
            if (!device.unplugging()) {
                // the mark is the detach's intent: saved before device_del, cleared with the device
                table.replace(device.withUnplugging(true));
                persist.run();
            }
        }
        try {
            requestUnplug(device, deadline);
        } catch (RuntimeException e) {
            if (e instanceof VmmUnavailableException u && timedOut(u)) {
                // QEMU may still carry out the unplug; requestUnplug finishes it when QEMU answers
                throw new VmmUnavailableException(u.reason(), "detach of device '" + deviceId + "': "
                        + u.getMessage() + "; the unplug stays pending and completes when QEMU answers", u);
            }
            unplugRefused(deviceId, gone);
            throw e;
        }
        await(gone, deviceId, UnplugWait.left(deadline), "detach");
    }

    /** QEMU refused or could not take the unplug: the device stays, and is no longer marked as leaving. */
    private void unplugRefused(String deviceId, CompletableFuture<Void> gone) {
        synchronized (lock) {
            released.remove(deviceId, gone);
            table.get(deviceId).ifPresent(d -> table.replace(d.withUnplugging(false)));
            persist.run();
        }
    }

    /**
     * {@code device_del}, and on a VM without a guest the reset that makes QEMU
     * complete it, each within the deadline (and the command timeout). When QEMU does
     * not answer {@code device_del} in time, this throws {@code TIMED_OUT} and sends
     * the reset, or undoes the mark, once QEMU answers; a reset that QEMU runs late
     * completes the unplug by itself ({@code DEVICE_DELETED}).
     */
    private void requestUnplug(DeviceState device, long deadline) {
        QmpClient.Call del = qmp.submit("device_del", QmpClient.args().put("id", device.id()));
        try {
            qmp.await(del, UnplugWait.bounded(qmp, deadline));
        } catch (VmmException e) {
            if (isGone(e)) {
                deviceDeleted(device.id());
                return;
            }
            if (!isUnplugging(e)) {
                throw e;
            }
            // QEMU keeps the first request pending; the reset (without a guest) or the guest completes it
        } catch (VmmUnavailableException e) {
            if (timedOut(e)) {
                del.whenDone((reply, error) -> lateUnplugAnswer(device, error));
            }
            throw e;
        }
        resetIfGuestless(device, UnplugWait.bounded(qmp, deadline));
    }

    /** QEMU's answer to {@code device_del} of a device it no longer has (an earlier unplug completed). */
    private static boolean isGone(VmmException e) {
        return "DeviceNotFound".equals(e.errorClass());
    }

    /** QEMU's answer to a second {@code device_del}: it keeps the first request pending. */
    private static boolean isUnplugging(VmmException e) {
        return e.vmmMessage().contains("already in the process of unplug");
    }

    /** QEMU answered a {@code device_del} whose caller had timed out. */
    private void lateUnplugAnswer(DeviceState device, HvspiException error) {
        try {
            if (error instanceof VmmException e && isGone(e)) {
                deviceDeleted(device.id());
            } else if (error == null || error instanceof VmmException e && isUnplugging(e)) {
                resetIfGuestless(device, qmp.defaultTimeout());
            } else if (error instanceof VmmException) {
                CompletableFuture<Void> gone = released.get(device.id());
                if (gone != null) {
                    unplugRefused(device.id(), gone);
                }
                LOG.warn("QEMU refused the unplug of device '{}' after it timed out: {}", device.id(),
                        error.getMessage());
            }
        } catch (HvspiException e) {
            LOG.warn("cannot complete the unplug of device '{}' after QEMU answered late: {}", device.id(),
                    e.getMessage());
        }
    }

    private void resetIfGuestless(DeviceState device, Duration timeout) {
        if (settings.guestless() && device.driver().equals(BlockDriver.VIRTIO_BLK_PCI.qemuDriver())) {
            // without a guest nobody answers the PCIe attention button; QEMU 7.2 completes pending unplugs on reset
            qmp.execute("system_reset", null, timeout);
        }
    }

    private void await(CompletableFuture<Void> gone, String deviceId, Duration timeout, String what) {
        UnplugWait.await(qmp, gone, what + " of device '" + deviceId + "'", timeout);
    }

    private void onQmpEvent(QmpEvent event) {
        if (!"DEVICE_DELETED".equals(event.name())) {
            return;
        }
        String id = event.data().path("device").asText(null);
        if (id != null && table.get(id).isPresent()) {
            deviceDeleted(id);
        }
    }

    /**
     * QEMU removed the device: end a move's wait, or finish a detach (drop the node,
     * free the IOThread and place). Runs once per device even when the event and a
     * {@code DeviceNotFound} race.
     */
    private void deviceDeleted(String id) {
        if (table.isMoving(id)) {
            CompletableFuture<Void> f = released.get(id);
            if (f != null) {
                f.complete(null);
            }
            return;
        }
        DeviceState device = table.get(id).orElse(null);
        if (device == null || !finishing.add(id)) {
            return;
        }
        try {
            if (!device.unplugging() && !released.containsKey(id)) {
                if (inQemu(id)) {
                    // an earlier instance's: QEMU stops listing an unplugged device before it reports it gone, so
                    // a reattach may have plugged it in again (a move cut between unplug and replug) by then
                    LOG.debug("ignoring DEVICE_DELETED of '{}': QEMU has a device of that id", id);
                    return;
                }
                // no command of hvspi asked for this (the guest ejected it, or an unplug another process asked
                // for completed): the device is gone, its data is not deleted
                LOG.warn("device '{}' was removed without a detach; its block node '{}' is kept", id,
                        device.nodeName());
            } else {
                try {
                    qmp.execute("blockdev-del", QmpClient.args().put("node-name", device.nodeName()));
                } catch (HvspiException e) {
                    LOG.warn("device '{}' is gone, but its block node '{}' stays: {}", id, device.nodeName(),
                            e.getMessage());
                }
            }
            synchronized (lock) {
                table.remove(id);
                pool.unassign(id);
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
    public List<BlockDevice> list() {
        return table.list().stream().map(QemuDeviceHotplug::toBlockDevice).toList();
    }

    /** True when QEMU has a device of that id now ({@code /machine/peripheral/<id>} exists). */
    private boolean inQemu(String id) {
        try {
            qmp.execute("qom-get", QmpClient.args().put("path", "/machine/peripheral/" + id).put("property", "type"));
            return true;
        } catch (HvspiException e) {
            return false; // not there (DeviceNotFound), or QEMU is gone: either way the device is
        }
    }

    @Override
    public BlockDevice move(String deviceId, IOThreadChoice target) {
        if (!capabilities.contains(Capability.IOTHREAD_MOVE)) {
            throw new UnsupportedCapabilityException(Capability.IOTHREAD_MOVE, type);
        }
        DeviceState device = table.require(deviceId);
        if (!device.driver().equals(BlockDriver.VIRTIO_BLK_PCI.qemuDriver())) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "device '" + deviceId + "' is a "
                    + device.driver() + "; only virtio-blk-pci devices have an IOThread of their own");
        }
        checkChoice(target, BlockDriver.VIRTIO_BLK_PCI);
        Reservation reservation;
        CompletableFuture<Void> gone = new CompletableFuture<>();
        synchronized (lock) {
            device = table.require(deviceId);
            if (device.unplugging() || !table.beginMove(deviceId)) {
                throw new RequestRejectedException(Reason.INVALID_STATE,
                        "device '" + deviceId + "' is being " + (device.unplugging() ? "detached" : "moved"));
            }
            try {
                reservation = pool.reserve(target);
            } catch (RuntimeException e) {
                table.endMove(deviceId);
                throw e;
            }
            if (reservation.ioThreads().equals(device.ioThreads())) {
                pool.release(reservation);
                table.endMove(deviceId);
                return toBlockDevice(device);
            }
            if (target instanceof IOThreadChoice.VqMapped && device.queues() < reservation.ioThreads().size()) {
                pool.release(reservation);
                table.endMove(deviceId);
                throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "device '" + deviceId + "' has "
                        + device.queues() + " queue(s), fewer than the " + reservation.ioThreads().size()
                        + " IOThreads to map them to");
            }
            released.put(deviceId, gone);
        }
        Intent intent = Intent.move(device, reservation.ioThreads());
        try {
            begin(intent);
        } catch (RuntimeException e) {
            synchronized (lock) {
                pool.release(reservation);
                released.remove(deviceId, gone);
                table.endMove(deviceId);
            }
            throw e;
        }
        try {
            return move(device, reservation, gone, intent);
        } finally {
            // a replug QEMU may still answer keeps its intent until it does (replugWhenAnswered)
            if (!table.isMoving(deviceId)) {
                end(intent);
                end(intent.withUnplugAsked()); // what it became once QEMU took the unplug
            }
        }
    }

    /**
     * Logs the move's intent again, marked: QEMU took the {@code device_del} ({@link Intent#withUnplugAsked}).
     * A reattach asks the unplug again only for a move so marked (see {@code Reconciler}), never for one
     * whose process may have died before it asked. When the line cannot be written the move goes on
     * under its first intent.
     */
    private Intent unplugAsked(Intent begun) {
        Intent asked = begun.withUnplugAsked();
        try {
            intents.beginLogged(asked);
            return asked;
        } catch (HvspiException e) {
            LOG.warn("move of device '{}': {}; should this process die before the move ends, the next reattach"
                    + " leaves the device where QEMU has it", begun.id(), e.getMessage());
            return begun;
        }
    }

    private BlockDevice move(DeviceState device, Reservation reservation, CompletableFuture<Void> gone,
                             Intent begun) {
        String deviceId = device.id();
        long deadline = System.nanoTime() + DEFAULT_DETACH_TIMEOUT.toNanos();
        Intent intent = begun;
        try {
            requestUnplug(device, deadline);
            intent = unplugAsked(begun);
            await(gone, deviceId, UnplugWait.left(deadline), "move");
        } catch (RuntimeException e) {
            synchronized (lock) {
                // DEVICE_DELETED may have come just after the wait gave up: then the move goes on
                if (!gone.isDone() || gone.isCompletedExceptionally()) {
                    pool.release(reservation);
                    released.remove(deviceId, gone);
                    if (e instanceof VmmUnavailableException u && !timedOut(u)) {
                        // QEMU can no longer say whether it unplugged the device: the device stays "being
                        // moved" and the intent stays in the record, for the next reattach to settle
                        throw new VmmUnavailableException(u.reason(), "move of device '" + deviceId + "': "
                                + u.getMessage() + "; the move stays recorded as unfinished, and the next reattach"
                                + " settles it (the disk stays attached)", u);
                    }
                    table.endMove(deviceId);
                    if (e instanceof VmmUnavailableException u && timedOut(u)) {
                        // the unplug stays pending in QEMU: from now on it is a detach
                        table.get(deviceId).ifPresent(d -> table.replace(d.withUnplugging(true)));
                        released.put(deviceId, new CompletableFuture<>());
                        persist.run();
                        throw new VmmUnavailableException(u.reason(), "move of device '" + deviceId + "': "
                                + u.getMessage() + "; the unplug stays pending, and the move is now a detach", u);
                    }
                    throw e;
                }
            }
        }
        QmpClient.Call replug = null;
        try {
            replug = qmp.submit("device_add", DeviceArgs.virtioBlkPci(deviceId, device.nodeName(), device.bus(),
                    reservation.ioThreads(), device.queues()));
            qmp.await(replug);
        } catch (VmmUnavailableException e) {
            if (!timedOut(e) || replug == null) {
                synchronized (lock) {
                    pool.release(reservation);
                }
                throw restoreAfterFailedMove(device, e);
            }
            // QEMU may still plug it: the device stays "being moved", with the new IOThread reserved, until it answers
            replugWhenAnswered(replug, device, reservation, gone, intent);
            throw new VmmUnavailableException(e.reason(), "move of device '" + deviceId + "': " + e.getMessage()
                    + "; hvspi records where the device ends up when QEMU answers", e);
        } catch (HvspiException e) {
            synchronized (lock) {
                pool.release(reservation);
            }
            throw restoreAfterFailedMove(device, e);
        }
        return toBlockDevice(confirmMove(device, reservation, gone, intent));
    }

    /** A move being carried on: the device as recorded, its new place reserved, the wait for its DEVICE_DELETED. */
    private record Resumed(DeviceState device, Reservation reservation, CompletableFuture<Void> gone, Intent intent) {}

    /** Marks the device as being moved and adopts the intent; {@code null} when the move cannot be carried on. */
    private Resumed takeOnMove(Intent intent) {
        String id = intent.id();
        synchronized (lock) {
            DeviceState device = table.get(id).orElse(null);
            if (device == null || !table.beginMove(id)) {
                return null;
            }
            Reservation reservation = reserveAt(intent.target());
            if (reservation == null) {
                // the target went away: the device goes back where it was once the guest releases it
                reservation = reserveAt(device.ioThreads());
            }
            if (reservation == null) {
                table.endMove(id);
                LOG.warn("the interrupted move of device '{}' cannot be carried on: neither its target {} nor {}"
                        + " can take it", id, intent.target(), device.ioThreads());
                return null;
            }
            CompletableFuture<Void> gone = new CompletableFuture<>();
            released.put(id, gone);
            intents.adopt(intent);
            return new Resumed(device, reservation, gone, intent);
        }
    }

    /**
     * Replugs when QEMU reports the device deleted; with the events heard by now, QEMU is asked
     * whether it still has the device: an unplug that completed before (its DEVICE_DELETED
     * unheard) ends the wait at once.
     */
    private void resume(Resumed r) {
        r.gone().whenCompleteAsync((v, error) -> replugResumed(r.device(), r.reservation(), r.gone(), r.intent(),
                error));
        if (!inQemu(r.device().id())) {
            r.gone().complete(null);
        }
    }

    /** A reservation of exactly these IOThreads, or {@code null} when the pool refuses it. */
    private Reservation reserveAt(List<String> ioThreads) {
        try {
            return pool.reserve(ioThreads.isEmpty() ? IOThreadChoice.mainLoop() : ioThreads.size() == 1
                    ? IOThreadChoice.named(ioThreads.get(0)) : IOThreadChoice.vqMapped(ioThreads));
        } catch (RuntimeException e) {
            return null;
        }
    }

    private void replugResumed(DeviceState device, Reservation reservation, CompletableFuture<Void> gone,
                               Intent intent, Throwable error) {
        if (error != null) {
            // QEMU went away: the move stays recorded as unfinished, for the next reattach
            synchronized (lock) {
                pool.release(reservation);
                released.remove(device.id(), gone);
            }
            return;
        }
        try {
            qmp.execute("device_add", DeviceArgs.virtioBlkPci(device.id(), device.nodeName(), device.bus(),
                    reservation.ioThreads(), device.queues()));
            confirmMove(device, reservation, gone, intent);
            LOG.info("device '{}' was moved to {} when the guest released it", device.id(),
                    describe(reservation.ioThreads()));
        } catch (HvspiException e) {
            replugFailedUnwatched(device, reservation, intent, e);
        }
    }

    /** A replug no caller waits for failed: the device goes back where it was, and the move's intent ends with it. */
    private void replugFailedUnwatched(DeviceState device, Reservation reservation, Intent intent,
                                       HvspiException error) {
        synchronized (lock) {
            pool.release(reservation);
        }
        LOG.warn("{}", restoreAfterFailedMove(device, error).getMessage());
        if (!table.isMoving(device.id())) {
            end(intent);
        }
    }

    private DeviceState confirmMove(DeviceState device, Reservation reservation, CompletableFuture<Void> gone,
                                    Intent intent) {
        DeviceState moved = device.withIoThreads(reservation.ioThreads());
        synchronized (lock) {
            pool.unassign(device.id());
            pool.confirm(reservation, device.id());
            table.replace(moved);
            table.endMove(device.id());
            released.remove(device.id(), gone);
            intents.end(intent);
            persist.run();
        }
        return moved;
    }

    /** Records the outcome of a replug whose caller timed out, when QEMU answers. */
    private void replugWhenAnswered(QmpClient.Call replug, DeviceState device, Reservation reservation,
                                    CompletableFuture<Void> gone, Intent intent) {
        replug.whenDone((reply, error) -> {
            if (error == null) {
                confirmMove(device, reservation, gone, intent);
                LOG.info("device '{}' was moved to {} after the move timed out", device.id(),
                        describe(reservation.ioThreads()));
                return;
            }
            replugFailedUnwatched(device, reservation, intent, error);
        });
    }

    /**
     * Plugs the device back where it was after QEMU refused the replug. When QEMU can
     * no longer be asked (it died, hung, or the connection broke), the device stays
     * recorded, still being moved, and the move's intent stays in the record: the next
     * reattach plugs it in again (see {@code Reconciler}), so the disk is not lost; the
     * error is a {@link VmmUnavailableException}, as for any other call. Only when QEMU
     * refuses both places is the device dropped, and its block node is still kept.
     */
    private HvspiException restoreAfterFailedMove(DeviceState device, HvspiException cause) {
        HvspiException failure = cause;
        if (!(cause instanceof VmmUnavailableException)) {
            try {
                qmp.execute("device_add", DeviceArgs.virtioBlkPci(device.id(), device.nodeName(), device.bus(),
                        device.ioThreads(), device.queues()));
                synchronized (lock) {
                    table.endMove(device.id());
                    released.remove(device.id());
                }
                return new HvspiException("move of device '" + device.id() + "' failed, it is back on "
                        + describe(device.ioThreads()) + ": " + cause.getMessage(), cause);
            } catch (HvspiException e) {
                cause.addSuppressed(e);
                failure = e;
            }
        }
        if (failure instanceof VmmUnavailableException u) {
            synchronized (lock) {
                released.remove(device.id());
            }
            return new VmmUnavailableException(u.reason(), "move of device '" + device.id() + "' was cut off after"
                    + " QEMU unplugged it: " + u.getMessage() + "; the move stays recorded as unfinished, and the next"
                    + " reattach plugs the device in again", cause);
        }
        synchronized (lock) {
            table.remove(device.id());
            pool.unassign(device.id());
            released.remove(device.id());
            persist.run();
        }
        return new HvspiException("move of device '" + device.id() + "' failed after QEMU unplugged it, and QEMU"
                + " refused to plug it in again; it is detached, its block node '" + device.nodeName() + "' is kept: "
                + failure.getMessage(), cause);
    }

    private static String describe(List<String> ioThreads) {
        return ioThreads.isEmpty() ? "the main loop" : "IOThread(s) " + String.join(", ", ioThreads);
    }

    /** The SPI view of a recorded device. */
    public static BlockDevice toBlockDevice(DeviceState d) {
        BlockBackend backend = DeviceState.BACKEND_NULL.equals(d.backend())
                ? new BlockBackend.Null(d.sizeBytes()) : new BlockBackend.HostPath(Path.of(d.path()));
        String address = d.driver().equals(BlockDriver.SCSI_HD.qemuDriver())
                ? d.bus() + ":" + d.lun() / DeviceTable.LUNS_PER_TARGET + ":" + d.lun() % DeviceTable.LUNS_PER_TARGET
                : d.bus() + ":00.0";
        return new BlockDevice(d.id(), d.driver(), backend, d.readOnly(), d.ioThreads(), d.queues(),
                Optional.of(address));
    }

}
