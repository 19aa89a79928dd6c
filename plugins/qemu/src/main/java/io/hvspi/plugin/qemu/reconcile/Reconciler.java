package io.hvspi.plugin.qemu.reconcile;

import io.hvspi.plugin.qemu.cmdline.BlockDriver;
import io.hvspi.plugin.qemu.cmdline.QemuCommandLine;
import io.hvspi.plugin.qemu.hotplug.DeviceArgs;
import io.hvspi.plugin.qemu.hotplug.DeviceTable;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.qmp.QmpEvent;
import io.hvspi.plugin.qemu.reconcile.LiveVm.LiveDevice;
import io.hvspi.plugin.qemu.reconcile.LiveVm.LiveNode;
import io.hvspi.plugin.qemu.state.DeviceState;
import io.hvspi.plugin.qemu.state.Intent;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.plugin.qemu.state.QemuState.IOThreadState;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.IOThreadInfo.Kind;
import io.hvspi.spi.VmmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Makes a reattached VM's record say what QEMU really has. Two steps:
 *
 * <ol>
 *   <li><b>Intents</b> that an earlier process left (it died mid-operation) are
 *       settled against QEMU: an attach whose device exists is adopted, one whose
 *       node exists without its device is rolled back ({@code blockdev-del}); a
 *       detach whose device is gone is finished ({@code blockdev-del} of its node),
 *       one whose device is still there is asked again; a move whose device is gone
 *       is plugged in again, on its target IOThread, else on its old one, so the disk
 *       stays attached; an IOThread add or removal is recorded as QEMU has it.</li>
 *   <li><b>Reconciliation</b>: devices, hvspi's block nodes and IOThreads are
 *       compared with QEMU. Devices and IOThreads QEMU has and the record lacks are
 *       adopted (a device only when it runs on an {@code hvspi-node}); recorded ones QEMU
 *       no longer has are dropped and reported; a device's bus and IOThread are
 *       QEMU's. This step only queries QEMU: it never deletes a device or a node.</li>
 * </ol>
 *
 * On a VM without a guest a pending unplug completes only on a reset, so when an
 * unplug may be pending (a detach or move intent whose device is still there) one
 * {@code system_reset} is sent first; nothing runs that a reset could disturb.
 */
public final class Reconciler {
    private static final Pattern NODE_NUMBER = Pattern.compile(Pattern.quote(DeviceTable.NODE_PREFIX) + "(\\d+)");

    private final QmpClient qmp;
    private final boolean guestless;
    private final boolean vqMapping;
    private final Duration timeout;
    private final List<String> notes = new ArrayList<>();
    private final List<Intent> unfinished = new ArrayList<>();
    /** Moves whose unplug QEMU has pending after {@link #askMovesAgain} (with a guest). */
    private final Set<String> unplugPending = new HashSet<>();

    /**
     * What reconciliation did.
     *
     * @param state the record as QEMU has it, with no intents left
     * @param notes one line per change, for the log and for the caller
     * @param changed true when {@code state} differs from the saved one (it must be saved)
     * @param unfinished moves whose unplug is pending with the guest: {@code state} has the device where QEMU
     *                   has it, and the session completes the move when QEMU reports it deleted
     *                   ({@code QemuDeviceHotplug.resumeMove}); the intent stays in the record until then
     */
    public record Result(QemuState state, List<String> notes, boolean changed, List<Intent> unfinished) {
        public Result(QemuState state, List<String> notes, boolean changed) {
            this(state, notes, changed, List.of());
        }

        public Result {
            notes = List.copyOf(notes);
            unfinished = List.copyOf(unfinished);
        }
    }

    public Reconciler(QmpClient qmp, boolean guestless, Duration timeout) {
        this(qmp, guestless, false, timeout);
    }

    /** @param vqMapping QEMU has {@code iothread-vq-mapping} (the probe found it): devices' mappings are read */
    public Reconciler(QmpClient qmp, boolean guestless, boolean vqMapping, Duration timeout) {
        this.qmp = qmp;
        this.guestless = guestless;
        this.vqMapping = vqMapping;
        this.timeout = timeout;
    }

    public Result reconcile(QemuState saved) {
        List<Intent> intents = new ArrayList<>(saved.intents());
        Set<String> detaching = new HashSet<>();
        intents.stream().filter(i -> i.op() == Intent.Op.DETACH).forEach(i -> detaching.add(i.id()));
        // a device marked as leaving is a detach in flight (format 1 recorded only this)
        for (DeviceState d : saved.devices()) {
            if (d.unplugging() && !detaching.contains(d.id())) {
                intents.add(Intent.detach(d));
                detaching.add(d.id());
            }
        }
        LiveVm live = live();
        if (completePendingUnplugs(intents, live)) {
            live = live();
        }
        Map<String, DeviceState> devices = new LinkedHashMap<>();
        saved.devices().forEach(d -> devices.put(d.id(), d));
        Map<String, Kind> ioThreads = new LinkedHashMap<>();
        saved.ioThreads().forEach(t -> ioThreads.put(t.id(), t.kind()));
        long nextNode = saved.nextNode();
        boolean wrote = false;
        for (Intent intent : intents) {
            wrote |= settle(intent, live, devices, ioThreads);
            if (intent.aboutDevice()) {
                nextNode = Math.max(nextNode, nodeNumber(intent.device().nodeName()) + 1);
            }
        }
        if (wrote) {
            live = live();
        }
        reconcileDevices(live, devices, saved);
        reconcileIoThreads(live, ioThreads);
        Set<String> used = new HashSet<>();
        devices.values().forEach(d -> used.add(d.nodeName()));
        for (LiveNode n : live.nodes().values()) {
            nextNode = Math.max(nextNode, nodeNumber(n.name()) + 1);
            if (!used.contains(n.name())) {
                notes.add("block node '" + n.name() + "' has no device; it is kept (hvspi deletes only what a"
                        + " command asked to delete)");
            }
        }
        List<IOThreadState> threads = ioThreads.entrySet().stream()
                .map(e -> new IOThreadState(e.getKey(), e.getValue())).toList();
        QemuState result = saved.with(List.copyOf(devices.values()), threads, List.of(), nextNode);
        return new Result(result, notes, wrote || !result.equals(saved) || !unfinished.isEmpty(), unfinished);
    }

    /**
     * Without a guest, an unplug hvspi asked for before it died may still be pending:
     * for a detach it is asked again, and one reset completes every pending one. A
     * move's device is not asked again (the move is settled by where the device is).
     * With a guest, a detach's unplug is asked again and left to the guest; a move's
     * unplug is asked again only when its intent says QEMU took its {@code device_del}
     * ({@link Intent#unplugAsked}) and QEMU has the device off the move's target (QEMU
     * answers that it is already pending), and awaited up to the timeout, so that the move
     * can plug the device in on its target. A guest that
     * takes longer leaves the move to the session ({@link Result#unfinished()}): the pending
     * unplug completes later, and the device must not be lost then.
     * Returns true when QEMU was told anything.
     */
    private boolean completePendingUnplugs(List<Intent> intents, LiveVm live) {
        boolean told = !guestless && askMovesAgain(intents, live);
        return completePendingDetaches(intents, live) || told;
    }

    /**
     * With a guest: {@code device_del} again for each move whose device QEMU still has on its old
     * place and whose intent records that QEMU took the move's {@code device_del}
     * ({@link Intent#unplugAsked}), and DEVICE_DELETED awaited. A device QEMU has on the move's target
     * (the replug was done) or whose unplug was never asked is left alone: the guest must not eject
     * a disk that is already where it belongs, or one nobody asked to unplug.
     */
    private boolean askMovesAgain(List<Intent> intents, LiveVm live) {
        List<CompletableFuture<QmpEvent>> deleted = new ArrayList<>();
        for (Intent i : intents) {
            LiveDevice there = live.devices().get(i.id());
            if (i.op() != Intent.Op.MOVE || there == null || !i.unplugAsked() || onTarget(i, there)) {
                continue;
            }
            String id = i.id();
            CompletableFuture<QmpEvent> event = qmp.nextEvent(e -> "DEVICE_DELETED".equals(e.name())
                    && id.equals(e.data().path("device").asText(null)));
            try {
                qmp.execute("device_del", QmpClient.args().put("id", id));
            } catch (VmmException e) {
                if ("DeviceNotFound".equals(e.errorClass())) {
                    event.cancel(false); // its unplug completed meanwhile
                    continue;
                }
                if (!e.vmmMessage().contains("already in the process of unplug")) {
                    event.cancel(false);
                    notes.add("move of device '" + id + "' was interrupted; QEMU refused its unplug again ("
                            + e.vmmMessage() + ")");
                    continue;
                }
            }
            deleted.add(event);
            unplugPending.add(id);
        }
        if (deleted.isEmpty()) {
            return false;
        }
        CompletableFuture<Void> all = CompletableFuture.allOf(deleted.toArray(CompletableFuture[]::new));
        long deadline = System.nanoTime() + timeout.toNanos();
        boolean interrupted = Thread.interrupted();
        while (!all.isDone() && deadline - System.nanoTime() > 0) {
            qmp.readUntil(all, Duration.ofNanos(deadline - System.nanoTime()));
            interrupted |= Thread.interrupted();
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        deleted.forEach(f -> f.cancel(false));
        return true;
    }

    /** True when QEMU has the moved device on the move's target: the replug happened. */
    private static boolean onTarget(Intent move, LiveDevice there) {
        return there.ioThreads().equals(move.target()) && !move.target().equals(move.device().ioThreads());
    }

    private boolean completePendingDetaches(List<Intent> intents, LiveVm live) {
        List<String> detach = new ArrayList<>();
        boolean movePresent = false;
        for (Intent i : intents) {
            if (i.op() == Intent.Op.DETACH && live.devices().containsKey(i.id())) {
                detach.add(i.id());
            }
            movePresent |= i.op() == Intent.Op.MOVE && live.devices().containsKey(i.id());
        }
        if (detach.isEmpty() && !movePresent) {
            return false;
        }
        for (String id : detach) {
            try {
                qmp.execute("device_del", QmpClient.args().put("id", id));
            } catch (VmmException e) {
                // already pending, or gone meanwhile: either way the reset below settles it
            }
        }
        boolean pciDevice = intents.stream().filter(i -> i.aboutDevice() && live.devices().containsKey(i.id()))
                .anyMatch(i -> i.device().driver().equals(BlockDriver.VIRTIO_BLK_PCI.qemuDriver()));
        if (guestless && pciDevice) {
            qmp.execute("system_reset");
            awaitGone(detach);
        }
        return true;
    }

    /** QEMU reports a device deleted during the reset; the listing may lag a moment behind. */
    private void awaitGone(List<String> ids) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            Map<String, LiveDevice> now = live().devices();
            if (ids.stream().noneMatch(now::containsKey)) {
                return;
            }
            LockSupport.parkNanos(1_000_000);
        }
    }

    private LiveVm live() {
        return LiveVm.read(qmp, vqMapping);
    }

    /** Settles one intent; true when it sent QEMU a command that changes something. */
    private boolean settle(Intent intent, LiveVm live, Map<String, DeviceState> devices, Map<String, Kind> ioThreads) {
        String id = intent.id();
        LiveDevice there = live.devices().get(id);
        switch (intent.op()) {
            case ATTACH -> {
                DeviceState d = intent.device();
                if (there != null && there.drive().equals(d.nodeName())) {
                    devices.put(id, d.withIoThreads(there.ioThreads()));
                    notes.add("attach of device '" + id + "' was interrupted after QEMU added it: adopted");
                } else if (live.nodes().containsKey(d.nodeName())) {
                    delete(d.nodeName());
                    notes.add("attach of device '" + id + "' was interrupted before QEMU added it: removed its"
                            + " block node '" + d.nodeName() + "'");
                    return true;
                } else {
                    notes.add("attach of device '" + id + "' was interrupted before QEMU did anything: forgotten");
                }
            }
            case DETACH -> {
                DeviceState d = intent.device();
                if (there != null) {
                    devices.computeIfPresent(id, (k, v) -> v.withUnplugging(true));
                    notes.add("detach of device '" + id + "' was interrupted: its unplug is asked again and"
                            + " still pending");
                } else {
                    devices.remove(id);
                    if (live.nodes().containsKey(d.nodeName())) {
                        deleteOnceReleased(d.nodeName());
                        notes.add("detach of device '" + id + "' was interrupted after QEMU unplugged it: finished"
                                + " (block node '" + d.nodeName() + "' removed)");
                        return true;
                    }
                    notes.add("detach of device '" + id + "' had finished in QEMU: forgotten");
                }
            }
            case MOVE -> {
                return settleMove(intent, there, live, devices);
            }
            case IOTHREAD_ADD, IOTHREAD_REMOVE -> {
                boolean exists = live.ioThreads().contains(id);
                if (exists) {
                    ioThreads.putIfAbsent(id, Kind.POOL);
                } else {
                    ioThreads.remove(id);
                }
                notes.add((intent.op() == Intent.Op.IOTHREAD_ADD ? "add" : "removal") + " of IOThread '" + id
                        + "' was interrupted: QEMU " + (exists ? "has" : "does not have") + " it, and so does the record");
            }
        }
        return false;
    }

    /** A move ends with the disk attached: where QEMU has it, else plugged in on the target, else on the old IOThreads. */
    private boolean settleMove(Intent intent, LiveDevice there, LiveVm live, Map<String, DeviceState> devices) {
        // the intent's mark says the move's device_del was taken; the device itself is not being detached
        DeviceState d = intent.device().withUnplugging(false);
        String id = d.id();
        if (there != null) {
            devices.put(id, d.withIoThreads(there.ioThreads()));
            if (onTarget(intent, there)) {
                notes.add("move of device '" + id + "' was interrupted after QEMU plugged it in on its target "
                        + describe(there.ioThreads()) + ": finished");
                return false;
            }
            if (!guestless && !intent.unplugAsked()) {
                notes.add("move of device '" + id + "' was interrupted before QEMU took its unplug; it stays on "
                        + describe(there.ioThreads()) + " (not unplugged now)");
                return false;
            }
            if (unplugPending.contains(id)) {
                // its unplug is pending with the guest (asked again above): the move ends when the guest lets go
                unfinished.add(intent);
                notes.add("move of device '" + id + "' was interrupted; QEMU has it on " + describe(there.ioThreads())
                        + " with its unplug pending: it is plugged in on " + describe(intent.target())
                        + " when the guest releases it");
                return false;
            }
            notes.add("move of device '" + id + "' was interrupted; QEMU has it on " + describe(there.ioThreads()));
            return false;
        }
        if (!live.nodes().containsKey(d.nodeName())) {
            devices.remove(id);
            notes.add("move of device '" + id + "' was interrupted and QEMU has neither the device nor its block node"
                    + " '" + d.nodeName() + "': forgotten");
            return false;
        }
        List<List<String>> places = live.ioThreads().containsAll(intent.target())
                ? List.of(intent.target(), d.ioThreads()) : List.of(d.ioThreads());
        HvspiException last = null;
        for (List<String> place : places) {
            try {
                qmp.execute("device_add", DeviceArgs.virtioBlkPci(id, d.nodeName(), d.bus(), place, d.queues()));
                devices.put(id, d.withIoThreads(place).withUnplugging(false));
                notes.add("move of device '" + id + "' was interrupted between unplug and replug: plugged in on "
                        + describe(place) + (last == null ? "" : " (the target was refused: " + last.getMessage() + ")"));
                return true;
            } catch (VmmException e) {
                last = e;
            }
        }
        devices.remove(id);
        notes.add("move of device '" + id + "' was interrupted between unplug and replug, and QEMU refused to plug it"
                + " in again (" + Objects.requireNonNull(last).getMessage() + "); its block node '" + d.nodeName()
                + "' is kept");
        return true;
    }

    /** Devices and their places as QEMU has them; adopts hvspi's unrecorded ones, drops vanished ones. */
    private void reconcileDevices(LiveVm live, Map<String, DeviceState> devices, QemuState saved) {
        for (DeviceState d : List.copyOf(devices.values())) {
            LiveDevice there = live.devices().get(d.id());
            if (there == null) {
                devices.remove(d.id());
                notes.add("device '" + d.id() + "' is recorded but QEMU no longer has it: dropped from the record"
                        + (live.nodes().containsKey(d.nodeName()) ? "; its block node '" + d.nodeName()
                        + "' is kept" : ""));
            } else if (!there.bus().equals(d.bus()) || !there.ioThreads().equals(d.ioThreads())
                    || !there.drive().equals(d.nodeName())) {
                devices.put(d.id(), new DeviceState(d.id(), d.driver(), there.drive(), d.backend(), d.path(),
                        d.sizeBytes(), d.format(), d.readOnly(), d.direct(), there.ioThreads(), d.queues(),
                        there.bus(), there.lun(), d.unplugging()));
                notes.add("device '" + d.id() + "': recorded on " + d.bus() + " " + describe(d.ioThreads())
                        + ", QEMU has it on " + there.bus() + " " + describe(there.ioThreads()) + ": now recorded so");
            }
        }
        Set<String> builtIn = new HashSet<>(saved.rootPorts());
        builtIn.add(QemuCommandLine.SCSI_CONTROLLER);
        builtIn.add(QemuCommandLine.IMAGE_ID);
        for (LiveDevice there : live.devices().values()) {
            LiveNode node = live.nodes().get(there.drive());
            if (devices.containsKey(there.id()) || builtIn.contains(there.id()) || node == null) {
                continue;
            }
            devices.put(there.id(), adopt(there, node));
            notes.add("device '" + there.id() + "' on " + there.bus() + " (block node '" + node.name()
                    + "') is in QEMU but was not recorded: adopted");
        }
    }

    private static DeviceState adopt(LiveDevice there, LiveNode node) {
        boolean isNull = node.driver().equals("null-co");
        return new DeviceState(there.id(), there.driver(), node.name(),
                isNull ? DeviceState.BACKEND_NULL : DeviceState.BACKEND_PATH, isNull ? null : node.file(),
                isNull ? node.sizeBytes() : 0, isNull ? "raw" : node.driver(), node.readOnly(), node.direct(),
                there.ioThreads(), there.queues(), there.bus(), there.lun(), false);
    }

    private void reconcileIoThreads(LiveVm live, Map<String, Kind> ioThreads) {
        for (String id : List.copyOf(ioThreads.keySet())) {
            if (!live.ioThreads().contains(id)) {
                ioThreads.remove(id);
                notes.add("IOThread '" + id + "' is recorded but QEMU no longer has it: dropped from the record");
            }
        }
        for (String id : live.ioThreads()) {
            if (!ioThreads.containsKey(id)) {
                ioThreads.put(id, Kind.POOL);
                notes.add("IOThread '" + id + "' is in QEMU but was not recorded: adopted into the pool");
            }
        }
    }

    private void delete(String nodeName) {
        qmp.execute("blockdev-del", QmpClient.args().put("node-name", nodeName));
    }

    /**
     * Deletes the node of a device QEMU has just unplugged: the device leaves QOM before it
     * lets go of its node, so for a moment the node is still "in use"; polled up to a second.
     */
    private void deleteOnceReleased(String nodeName) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
        while (true) {
            try {
                delete(nodeName);
                return;
            } catch (VmmException e) {
                if (!e.vmmMessage().contains("in use") || System.nanoTime() - deadline > 0) {
                    throw e;
                }
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
            }
        }
    }

    private static long nodeNumber(String nodeName) {
        Matcher m = NODE_NUMBER.matcher(nodeName);
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }

    private static String describe(List<String> ioThreads) {
        return ioThreads.isEmpty() ? "the main loop" : "IOThread(s) " + String.join(", ", ioThreads);
    }
}
