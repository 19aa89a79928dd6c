package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.qemu.hotplug.DeviceArgs;
import io.hvspi.plugin.qemu.process.RuntimeLayout;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.state.DeviceState;
import io.hvspi.plugin.qemu.state.Intent;
import io.hvspi.plugin.qemu.state.IntentLog;
import io.hvspi.plugin.qemu.state.QemuSettings;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmRecord;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reattach makes the record say what QEMU has (real QEMU 7.2): it adopts what
 * hvspi made but did not record, drops what vanished without deleting anything,
 * and settles intents, so that root ports and IOThreads are handed out by what
 * QEMU really uses.
 */
class ReconciliationTest {
    @TempDir
    Path tmp;

    private DefaultHostContext host;
    private QemuHypervisor vm;

    private QemuHypervisor start() {
        host = TestVms.host(tmp);
        vm = (QemuHypervisor) new QemuHypervisorFactory().create(TestVms.spec("r", 2, IOThreadPolicy.FIRST), host);
        vm.start();
        return vm;
    }

    @AfterEach
    void stop() {
        if (vm != null) {
            vm.close();
            QemuHypervisor.reattach(record(), host).stop();
        }
    }

    private VmRecord record() {
        return host.stateStore().load("r").orElseThrow();
    }

    private QemuState saved() {
        return TestVms.durable(record());
    }

    private QemuHypervisor reattach() {
        vm.close();
        vm = QemuHypervisor.reattach(record(), host);
        return vm;
    }

    /** QMP commands from another client, as a process that died before recording would have sent them. */
    private void fromAnotherProcess(String... commandsAndIds) {
        vm.close();
        try (QmpClient qmp = QmpClient.connect(record().runtimeDir().resolve("qmp.sock"), Duration.ofSeconds(5))) {
            for (int i = 0; i < commandsAndIds.length; i += 2) {
                qmp.execute(commandsAndIds[i], commandsAndIds[i + 1].isEmpty() ? null
                        : QmpClient.args().put("id", commandsAndIds[i + 1]));
            }
            // QEMU completes an unplug after the reset returns: wait until the devices are really gone
            for (int i = 0; i < commandsAndIds.length; i += 2) {
                if (commandsAndIds[i].equals("device_del")) {
                    awaitGone(qmp, commandsAndIds[i + 1]);
                }
            }
        }
    }

    private static void awaitGone(QmpClient qmp, String deviceId) {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (true) {
            boolean present = false;
            for (var child : qmp.execute("qom-list", QmpClient.args().put("path", "/machine/peripheral"))) {
                present |= child.path("name").asText().equals(deviceId);
            }
            if (!present) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("QEMU still has device '" + deviceId + "' 10 s after device_del");
            }
            java.util.concurrent.locks.LockSupport.parkNanos(2_000_000);
        }
    }

    private static BlockDeviceSpec disk(String id) {
        return BlockDeviceSpec.builder(id, BlockBackend.nullBackend()).build();
    }

    @Test
    void aPlainReattachAfterAMoveCutOffBetweenUnplugAndReplugDeletesNothing() {
        start().requireHotplug().attach(disk("d0"));
        // what a format-1 process killed between a move's unplug and replug left: no intent, device gone
        fromAnotherProcess("device_del", "d0", "system_reset", "");
        vm = QemuHypervisor.reattach(record(), host);
        assertTrue(QemuTruth.nodes(vm).contains("hvspi-node0"), "the block node was deleted: the disk is lost");
        assertEquals(List.of(), saved().devices());
        assertTrue(vm.reconciliation().stream().anyMatch(n -> n.contains("'d0'") && n.contains("kept")),
                vm.reconciliation().toString());
        // and again: a reattach with nothing to settle changes nothing
        reattach();
        assertTrue(QemuTruth.nodes(vm).contains("hvspi-node0"));
        vm.requireHotplug().attach(disk("d1"));
        assertNotEquals("hvspi-node0", saved().devices().get(0).nodeName(), "a node name handed out twice");
    }

    @Test
    void aMoveIntentWhoseDeviceIsGoneEndsWithTheDiskAttachedAgain() {
        start().requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend())
                .ioThread(IOThreadChoice.named("indep_iothread_0")).build());
        DeviceState d0 = saved().devices().get(0);
        fromAnotherProcess("device_del", "d0", "system_reset", "");
        QemuState s = saved();
        host.stateStore().save(record().withPluginState(s.with(s.devices(), s.ioThreads(),
                List.of(Intent.move(d0, List.of("indep_iothread_1"))), s.nextNode()).toJson()));
        vm = QemuHypervisor.reattach(record(), host);
        QemuTruth.assertRecordEqualsQemu(vm, saved(), "after the reattach");
        // attached again, never lost: on the target, or (when QEMU refuses the target) where it was
        List<String> place = saved().devices().get(0).ioThreads();
        assertTrue(place.equals(List.of("indep_iothread_1")) || place.equals(List.of("indep_iothread_0")),
                place.toString());
        assertEquals("hvspi-node0", saved().devices().get(0).nodeName());
        assertTrue(vm.reconciliation().stream().anyMatch(n -> n.contains("plugged in on")),
                vm.reconciliation().toString());
    }

    /**
     * The record as a process on a VM with a guest left it: this guestless QEMU (paused, nothing answers
     * an unplug) stands in for a guest that has not acted yet, and the move's intent is the record's.
     */
    private void recordWithAGuest(Intent... intents) {
        QemuState s = saved();
        QemuSettings g = s.settings();
        QemuSettings withGuest = new QemuSettings(g.binary(), g.accel(), g.vcpus(), false, g.blockDriver(), g.aio(),
                g.cacheDirect(), g.cacheNoflush(), g.ioThreadsEnabled(), g.policy(), g.fsSharing());
        QemuState dead = new QemuState(s.format(), withGuest, s.qmpSocket(), s.endpoint(), s.ioThreads(),
                s.rootPorts(), s.scsiController(), s.policyTurn(), s.nextNode(), s.devices(), List.of(intents),
                s.qemu(), s.nics(), s.pins(), s.placement(), s.intentLog());
        host.stateStore().save(record().withPluginState(dead.toJson()));
    }

    /**
     * No unplug is pending for the device after the reattach: a reset (which completes every pending
     * unplug on a VM no guest answers) leaves it where it is.
     */
    private void assertNoUnplugPending(String deviceId) {
        vm.close();
        try (QmpClient qmp = QmpClient.connect(record().runtimeDir().resolve("qmp.sock"), Duration.ofSeconds(5))) {
            qmp.execute("system_reset");
            long deadline = System.nanoTime() + Duration.ofSeconds(2).toNanos();
            while (System.nanoTime() < deadline) {
                boolean present = false;
                for (var child : qmp.execute("qom-list", QmpClient.args().put("path", "/machine/peripheral"))) {
                    present |= child.path("name").asText().equals(deviceId);
                }
                assertTrue(present, "the reattach asked the unplug of '" + deviceId + "': the reset completed it");
                java.util.concurrent.locks.LockSupport.parkNanos(20_000_000);
            }
        }
        vm = QemuHypervisor.reattach(record(), host);
    }

    /**
     * A move whose replug QEMU carried out after its process gave up on it (the replug timed out and
     * hvctl exited), the intent left behind: QEMU has the device on the move's target. The reattach
     * records the move as done; it used to ask the unplug again, and the guest ejected a disk that was
     * already in its final place.
     */
    @Test
    void aMoveQemuFinishedOnItsTargetIsSettledAsDoneWithoutAnotherUnplug() {
        start().requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend())
                .ioThread(IOThreadChoice.named("indep_iothread_0")).build());
        DeviceState d0 = saved().devices().get(0);
        fromAnotherProcess("device_del", "d0", "system_reset", "");
        try (QmpClient qmp = QmpClient.connect(record().runtimeDir().resolve("qmp.sock"), Duration.ofSeconds(5))) {
            qmp.execute("device_add", DeviceArgs.virtioBlkPci("d0", d0.nodeName(), d0.bus(),
                    List.of("indep_iothread_1"), d0.queues()));
        }
        recordWithAGuest(Intent.move(d0, List.of("indep_iothread_1")).withUnplugAsked());

        vm = QemuHypervisor.reattach(record(), host);
        QemuTruth.assertRecordEqualsQemu(vm, saved(), "after the reattach");
        assertEquals(List.of("indep_iothread_1"), saved().devices().get(0).ioThreads());
        assertFalse(saved().devices().get(0).unplugging());
        assertEquals(List.of(), saved().intents(), "the move is finished");
        assertTrue(vm.reconciliation().stream().anyMatch(n -> n.contains("'d0'") && n.contains("finished")),
                vm.reconciliation().toString());
        assertNoUnplugPending("d0");
        assertEquals(List.of("indep_iothread_1"), saved().devices().get(0).ioThreads());
    }

    /**
     * A process that logged a move's intent and died before QEMU took its {@code device_del}: the
     * intent is not marked ({@link Intent#unplugAsked}). The reattach leaves the disk where it is and
     * drops the intent; it used to ask the unplug, and the guest ejected a disk nobody had unplugged.
     */
    @Test
    void aMoveCutOffBeforeItsUnplugLeavesTheDiskWhereItIsWithoutAnUnplug() {
        start().requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend())
                .ioThread(IOThreadChoice.named("indep_iothread_0")).build());
        DeviceState d0 = saved().devices().get(0);
        vm.close();
        recordWithAGuest(Intent.move(d0, List.of("indep_iothread_1")));

        vm = QemuHypervisor.reattach(record(), host);
        QemuTruth.assertRecordEqualsQemu(vm, saved(), "after the reattach");
        assertEquals(List.of("indep_iothread_0"), saved().devices().get(0).ioThreads());
        assertEquals(List.of(), saved().intents());
        assertTrue(vm.reconciliation().stream().anyMatch(n -> n.contains("'d0'") && n.contains("not unplugged")),
                vm.reconciliation().toString());
        assertNoUnplugPending("d0");
        assertEquals(List.of("indep_iothread_0"), saved().devices().get(0).ioThreads());
        assertEquals(List.of(), vm.reconciliation(), "nothing left to settle");
    }

    /**
     * A move cut off after QEMU took its {@code device_del}, on a VM with a guest: the reattach asks
     * again and waits (here the guest never answers in time), and the guest lets go of the disk after the
     * reconciler's last look but before the session listens for QEMU's events. The session still plugs
     * the disk in on the target: it asks QEMU whether the device is there once it listens. It used to wait
     * for a DEVICE_DELETED that had come and gone, with the device recorded as being moved, QEMU without it.
     */
    @Test
    void aResumedMoveWhoseUnplugCompletesBeforeTheSessionListensEndsOnItsTarget() {
        start().requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend())
                .ioThread(IOThreadChoice.named("indep_iothread_0")).build());
        DeviceState d0 = saved().devices().get(0);
        vm.close();
        try (QmpClient qmp = QmpClient.connect(record().runtimeDir().resolve("qmp.sock"), Duration.ofSeconds(5))) {
            qmp.execute("device_del", QmpClient.args().put("id", "d0")); // pending: no guest answers
        }
        recordWithAGuest(Intent.move(d0, List.of("indep_iothread_1")).withUnplugAsked());
        DefaultHostContext quick = new DefaultHostContext(host.runtimeRoot(), Duration.ofSeconds(2), java.util.Map.of());
        QemuHypervisor.afterReconcile = qmp -> {
            var deleted = qmp.nextEvent(e -> e.name().equals("DEVICE_DELETED")
                    && "d0".equals(e.data().path("device").asText(null)));
            qmp.execute("system_reset"); // the guest lets go now
            qmp.readUntil(deleted, Duration.ofSeconds(5));
            assertTrue(deleted.isDone(), "QEMU reported d0 deleted");
        };
        try {
            vm = QemuHypervisor.reattach(record(), quick);
        } finally {
            QemuHypervisor.afterReconcile = qmp -> { };
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (!saved().intents().isEmpty() || !saved().devices().stream()
                .anyMatch(d -> d.id().equals("d0") && d.ioThreads().equals(List.of("indep_iothread_1")))) {
            assertTrue(System.nanoTime() < deadline, () -> "the move did not end on its target: " + saved()
                    + "; reattach: " + vm.reconciliation());
            java.util.concurrent.locks.LockSupport.parkNanos(20_000_000);
        }
        QemuTruth.assertRecordEqualsQemu(vm, saved(), "after the move ended");
        assertEquals(d0.nodeName(), saved().devices().get(0).nodeName(), "the same block node");
        assertFalse(saved().devices().get(0).unplugging());
    }

    @Test
    void intentsOnlyTheLogHoldsAreSettledOnceAndTheLogStartsAfresh() throws Exception {
        start().requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend())
                .ioThread(IOThreadChoice.named("indep_iothread_0")).build());
        DeviceState d0 = saved().devices().get(0);
        DeviceState d1 = new DeviceState("d1", "virtio-blk-pci", "hvspi-node1", DeviceState.BACKEND_NULL, null,
                d0.sizeBytes(), "raw", false, false, List.of("indep_iothread_1"), d0.queues(), "rp1", 0, false);
        // a process logged a move of d0 and an attach of d1, unplugged d0, added d1's node, and died
        // before any record save: only the log knows
        fromAnotherProcess("device_del", "d0", "system_reset", "");
        try (QmpClient qmp = QmpClient.connect(record().runtimeDir().resolve("qmp.sock"), Duration.ofSeconds(5))) {
            qmp.execute("blockdev-add", QmpClient.args().put("driver", "null-co").put("node-name", "hvspi-node1")
                    .put("size", d0.sizeBytes()));
        }
        Path logFile = new RuntimeLayout(record().runtimeDir()).intentLog();
        IntentLog log = new IntentLog(logFile, saved().intentLog());
        log.append(Intent.move(d0, List.of("indep_iothread_1")));
        log.append(Intent.attach(d1));
        assertEquals(List.of(), QemuState.fromJson(record().pluginState()).intents(), "the record itself holds none");

        vm = QemuHypervisor.reattach(record(), host);
        QemuTruth.assertRecordEqualsQemu(vm, saved(), "after the reattach");
        assertEquals(List.of("d0"), saved().devices().stream().map(DeviceState::id).toList());
        assertFalse(QemuTruth.nodes(vm).contains("hvspi-node1"), "the attach that never got its device is undone");
        assertTrue(vm.reconciliation().stream().anyMatch(n -> n.contains("plugged in on")),
                vm.reconciliation().toString());
        assertEquals(List.of(), saved().intents());
        assertEquals(log.lastSeq(), saved().intentLog(), "the record covers the log");
        assertEquals(0, java.nio.file.Files.size(logFile), "and the log starts afresh");

        reattach();
        assertEquals(List.of(), vm.reconciliation(), "settled once: a covered line is history");
        vm.requireHotplug().attach(disk("d2"));
        assertEquals(log.lastSeq() + 2, saved().intentLog(),
                "numbering goes on after the record's position (d2's intent, then its outcome)");
    }

    @Test
    void anAttachIsALogLineNotARecordSaveAndAReattachReplaysItSilently() throws Exception {
        start().requireHotplug().attach(disk("d0"));
        Path logFile = new RuntimeLayout(record().runtimeDir()).intentLog();
        assertEquals(List.of(), QemuState.fromJson(record().pluginState()).devices(), "no record save per attach");
        assertEquals(List.of("d0"), saved().devices().stream().map(DeviceState::id).toList(), "its log holds it");
        assertEquals(1, saved().policyTurn(), "and the round-robin cursor it moved");

        // what a process killed now would leave behind: the record without d0, the log with its two lines
        TestVms.KilledFiles killed = TestVms.KilledFiles.of(record());
        vm.close();
        assertEquals(List.of("d0"), QemuState.fromJson(record().pluginState()).devices().stream()
                .map(DeviceState::id).toList(), "closing the handle saves what only the log held");
        assertEquals(0, Files.size(logFile), "and empties the log");

        killed.restore();
        vm = QemuHypervisor.reattach(record(), host);
        assertEquals(List.of(), vm.reconciliation(), "a finished attach is replayed, not settled as a crash");
        QemuState folded = QemuState.fromJson(record().pluginState());
        assertEquals(List.of("d0"), folded.devices().stream().map(DeviceState::id).toList(), "the record holds it now");
        assertEquals(1, folded.policyTurn());
        assertEquals(0, Files.size(logFile), "and the log starts afresh");
        QemuTruth.assertRecordEqualsQemu(vm, folded, "after the reattach");
    }

    @Test
    void attachesSaveTheRecordOnceTheirLinesFillTheLog() throws Exception {
        host = TestVms.host(tmp);
        vm = (QemuHypervisor) new QemuHypervisorFactory().create(TestVms.spec("r", 1, IOThreadPolicy.FIRST,
                "virtio-scsi", 1), host);
        vm.start();
        Path logFile = new RuntimeLayout(record().runtimeDir()).intentLog();
        int attached = 0;
        while (QemuState.fromJson(record().pluginState()).devices().isEmpty()) {
            assertTrue(attached < 100, "100 attaches and the record was never saved: " + Files.size(logFile) + " bytes");
            vm.requireHotplug().attach(disk("s" + attached++));
        }
        assertTrue(attached > 1, "the first attach already saved the record");
        assertEquals(attached, QemuState.fromJson(record().pluginState()).devices().size(),
                "the save holds every attach so far");
        assertTrue(Files.size(logFile) < IntentLog.COMPACT_BYTES, "the log was emptied: " + Files.size(logFile));
        assertEquals(saved(), QemuState.fromJson(record().pluginState()), "and the record covers it");
    }

    @Test
    void aReattachToAVmThatAgreesWithItsRecordChangesNothingWithScsiDisksToo() {
        host = TestVms.host(tmp);
        vm = (QemuHypervisor) new QemuHypervisorFactory().create(TestVms.spec("r", 1, IOThreadPolicy.FIRST,
                "virtio-scsi", 4), host);
        vm.start();
        for (int i = 0; i < 3; i++) {
            vm.requireHotplug().attach(disk("s" + i));
        }
        vm.close(); // saves what only the log held
        String folded = record().pluginState();
        assertEquals(3, QemuState.fromJson(folded).devices().size());
        vm = QemuHypervisor.reattach(record(), host);
        assertEquals(List.of(), vm.reconciliation());
        assertEquals(folded, record().pluginState(), "a reattach with nothing to settle rewrote the record");
    }

    @Test
    void eightProcessesHotpluggingOneAfterAnotherGetEightRootPorts() throws Exception {
        start().close();
        for (int i = 0; i < 8; i++) {
            try (ChildJvm child = ChildJvm.start(host.runtimeRoot(), "r", "attach", tmp.resolve("child.log"), false,
                    "p" + i)) {
                assertTrue(child.awaitLine("done", 60_000), "process " + i + " failed (see child.log)");
                assertEquals(0, child.waitFor());
            }
        }
        vm = QemuHypervisor.reattach(record(), host);
        QemuTruth.assertRecordEqualsQemu(vm, saved(), "after 8 processes");
        assertEquals(8, saved().devices().size());
        assertEquals(8, saved().devices().stream().map(DeviceState::bus).distinct().count());
        assertEquals(List.of(), vm.reconciliation(), "nothing to settle after processes that ended well");
    }

    @Test
    void adoptsWhatHvspiMadeButDidNotRecordAndDropsWhatVanished() {
        start().requireHotplug().attach(disk("d0"));
        vm.requireIoThreads().add("gone");
        // another process made these and died before recording them
        vm.monitorCommand("blockdev-add", QmpClient.args().put("driver", "null-co").put("node-name", "hvspi-node7")
                .put("size", 1 << 20));
        vm.monitorCommand("device_add", QmpClient.args().put("driver", "virtio-blk-pci").put("id", "dx")
                .put("drive", "hvspi-node7").put("bus", "rp1").put("iothread", "indep_iothread_1"));
        vm.monitorCommand("object-add", QmpClient.args().put("qom-type", "iothread").put("id", "xt1"));
        vm.monitorCommand("object-del", QmpClient.args().put("id", "gone"));
        reattach();
        QemuTruth.assertRecordEqualsQemu(vm, saved(), "after the reattach");
        DeviceState dx = saved().devices().stream().filter(d -> d.id().equals("dx")).findFirst().orElseThrow();
        assertEquals("rp1", dx.bus());
        assertEquals(List.of("indep_iothread_1"), dx.ioThreads());
        assertEquals(List.of("dx"), vm.requireIoThreads().list().stream()
                .filter(t -> t.id().equals("indep_iothread_1")).findFirst().orElseThrow().devices());
        assertTrue(saved().ioThreads().stream().anyMatch(t -> t.id().equals("xt1")));
        assertFalse(saved().ioThreads().stream().anyMatch(t -> t.id().equals("gone")));
        // root ports are handed out by what QEMU uses: never rp0 (d0) or rp1 (dx) again, never hvspi-node7
        Set<String> ports = new HashSet<>(List.of("rp0", "rp1"));
        for (int i = 2; i < 6; i++) {
            vm.requireHotplug().attach(disk("d" + i));
        }
        QemuTruth.assertRecordEqualsQemu(vm, saved(), "after more attaches");
        for (BlockDevice d : vm.requireHotplug().list()) {
            if (!d.id().equals("d0") && !d.id().equals("dx")) {
                assertTrue(ports.add(d.address().orElseThrow().split(":")[0]), "root port used twice: " + d);
            }
        }
    }
}
