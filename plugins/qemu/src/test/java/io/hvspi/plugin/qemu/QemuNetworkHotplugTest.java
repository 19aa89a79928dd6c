package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.kit.device.MacAddresses;
import io.hvspi.plugin.qemu.hotplug.HostTaps;
import io.hvspi.plugin.qemu.hotplug.NetArgs;
import io.hvspi.plugin.qemu.process.RuntimeLayout;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.state.Intent;
import io.hvspi.plugin.qemu.state.NicState;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.NetBackend;
import io.hvspi.spi.NetDevice;
import io.hvspi.spi.NetDeviceSpec;
import io.hvspi.spi.NetworkHotplug;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmmException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * NIC hotplug against real QEMU 7.2 with real host taps (needs root for /dev/net/tun):
 * what QEMU has is read back over QMP ({@code qom-get}, HMP {@code info network}), the
 * taps from {@code /sys/class/net}.
 */
class QemuNetworkHotplugTest {
    @TempDir
    Path tmp;

    private DefaultHostContext host;
    private QemuHypervisor vm;
    private final List<String> taps = new ArrayList<>();

    @BeforeEach
    void start() {
        Assumptions.assumeTrue(Path.of("/dev/net/tun").toFile().canWrite(), "needs /dev/net/tun (root)");
        host = TestVms.host(tmp);
        vm = (QemuHypervisor) new QemuHypervisorFactory().create(TestVms.spec("n", 0, IOThreadPolicy.FIRST), host);
        vm.start();
    }

    @AfterEach
    void stop() throws Exception {
        if (vm != null) {
            vm.close();
            host.stateStore().load("n").ifPresent(r -> QemuHypervisor.reattach(r, host).stop());
        }
        for (String tap : taps) {
            HostTaps.removeQuietly(tap);
        }
    }

    /** A tap name no other test run uses: 15 characters at most. */
    private String tapName() {
        byte[] b = new byte[4];
        ThreadLocalRandom.current().nextBytes(b);
        String name = "hvt" + HexFormat.of().formatHex(b);
        taps.add(name);
        return name;
    }

    private NetworkHotplug net() {
        return vm.requireNetworkHotplug();
    }

    private String qomGet(String id, String property) {
        return vm.monitorCommand("qom-get", QmpClient.args().put("path", "/machine/peripheral/" + id)
                .put("property", property)).asText();
    }

    private String infoNetwork() {
        return vm.monitorCommand("human-monitor-command", QmpClient.args().put("command-line", "info network"))
                .asText();
    }

    private VmRecord record() {
        return host.stateStore().load("n").orElseThrow();
    }

    private static void ip(String... args) throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>(List.of("ip"));
        argv.addAll(List.of(args));
        Process p = new ProcessBuilder(argv).inheritIO().start();
        assertEquals(0, p.waitFor(), String.join(" ", argv));
    }

    /**
     * A NIC attach whose tap is made after the VM's stop removed the taps hvspi made for it (the
     * stop's removal ran while {@code ip tuntap add} did): the attach removes that tap itself. The
     * stop's mark is set by hand, as the stop leaves it at that moment.
     */
    @Test
    void aTapMadeAfterTheStopRemovedTheVmsTapsIsRemovedByItsAttach() throws Exception {
        java.lang.reflect.Field removed = QemuHypervisor.class.getDeclaredField("removed");
        removed.setAccessible(true);
        String tap = tapName();
        removed.setBoolean(vm, true);
        try {
            RequestRejectedException e = assertThrows(RequestRejectedException.class,
                    () -> net().attach(NetDeviceSpec.of("late0", NetBackend.newTap(tap))));
            assertEquals(Reason.INVALID_STATE, e.reason());
            assertFalse(HostTaps.exists(tap), "the tap the attach made after the stop's removal is left behind");
            assertEquals(List.of(), net().list());
        } finally {
            removed.setBoolean(vm, false);
        }
    }

    @Test
    void aFollowerInAnotherConnectionSeesTheNicComeAndGo() throws Exception {
        String tap = tapName();
        LinkedBlockingQueue<VmEvent> seen = new LinkedBlockingQueue<>();
        try (Hypervisor.Subscription follower = new QemuHypervisorFactory().follow(record(), host, seen::add)) {
            NetDevice nic = net().attach(NetDeviceSpec.of("nic0", NetBackend.newTap(tap)));
            VmEvent attached = next(seen, "NIC_ATTACHED");
            assertEquals(Map.of("device", "nic0", "mac", nic.mac(), "tap", tap, "queues", 1), attached.data());
            net().detach("nic0");
            assertEquals(Map.of("device", "nic0"), next(seen, "NIC_DETACHED").data());
        }
    }

    /** The next event of that name; others (QEMU's own) are skipped. */
    private static VmEvent next(LinkedBlockingQueue<VmEvent> seen, String name) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        List<String> skipped = new ArrayList<>();
        while (true) {
            VmEvent e = seen.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
            if (e == null) {
                throw new AssertionError("no " + name + " within 20 s; saw " + skipped);
            }
            if (e.name().equals(name)) {
                return e;
            }
            skipped.add(e.name());
        }
    }

    @Test
    void attachesOnATapHvspiMadeWithAGeneratedMacAndDetachRemovesAll() {
        String tap = tapName();
        NetDevice nic = net().attach(NetDeviceSpec.of("nic0", NetBackend.newTap(tap)));
        assertTrue(HostTaps.exists(tap), "hvspi created the tap");
        assertTrue(MacAddresses.isLocalUnicast(nic.mac()), nic.mac());
        assertEquals(nic.mac(), qomGet("nic0", "mac"), "QEMU has the MAC hvspi reports");
        assertEquals(NetArgs.netdevId("nic0"), qomGet("nic0", "netdev"));
        assertTrue(infoNetwork().contains("ifname=" + tap), infoNetwork());
        assertEquals(List.of(nic), net().list());
        assertTrue(nic.address().orElseThrow().endsWith(":00.0"), nic.address().toString());
        assertEquals(1, TestVms.durable(record()).nics().size(), "recorded in the VM's state");

        net().detach("nic0");
        assertEquals(List.of(), net().list());
        assertFalse(infoNetwork().contains(NetArgs.netdevId("nic0")), "netdev deleted: " + infoNetwork());
        assertFalse(HostTaps.exists(tap), "the tap hvspi made is gone");
        assertEquals(List.of(), TestVms.durable(record()).nics());
    }

    @Test
    void aUsersTapStaysAfterDetachAndStopAndTheGivenMacAndQueuesAreUsed() throws Exception {
        String tap = tapName();
        ip("tuntap", "add", "dev", tap, "mode", "tap", "multi_queue");
        NetDevice nic = net().attach(NetDeviceSpec.of("nic1", NetBackend.tap(tap)).withMac("52:54:00:AA:BB:01")
                .withQueues(2));
        assertEquals("52:54:00:aa:bb:01", nic.mac());
        assertEquals(2, nic.queues());
        assertEquals("true", qomGet("nic1", "mq"));
        assertEquals("6", qomGet("nic1", "vectors"), "2 * queues + 2");
        net().detach("nic1");
        assertTrue(HostTaps.exists(tap), "detach keeps a user's tap");
        net().attach(NetDeviceSpec.of("nic1", NetBackend.tap(tap)).withQueues(2));
        vm.stop();
        assertTrue(HostTaps.exists(tap), "stop keeps a user's tap");
    }

    @Test
    void severalQueuesOnASingleQueueTapAreRefusedBeforeQemuIsAsked() throws Exception {
        String tap = tapName();
        ip("tuntap", "add", "dev", tap, "mode", "tap");
        RequestRejectedException e = assertThrows(RequestRejectedException.class,
                () -> net().attach(NetDeviceSpec.of("nic1", NetBackend.tap(tap)).withQueues(2)));
        assertEquals(Reason.INVALID_ARGUMENT, e.reason());
        assertTrue(e.getMessage().contains("multi_queue"), e.getMessage());
        assertFalse(infoNetwork().contains(NetArgs.netdevId("nic1")));
    }

    @Test
    void stopRemovesTheTapsHvspiMade() {
        String tap = tapName();
        net().attach(NetDeviceSpec.of("nic0", NetBackend.newTap(tap)));
        vm.stop();
        assertFalse(HostTaps.exists(tap));
    }

    @Test
    void aStopWithoutQmpRemovesATapOnlyTheLogNames() throws Exception {
        String tap = tapName();
        net().attach(NetDeviceSpec.of("nic0", NetBackend.newTap(tap)));
        // what a process killed after the attach leaves behind: the NIC in the log, not in the record
        TestVms.KilledFiles killed = TestVms.KilledFiles.of(record());
        assertFalse(killed.recordJson().contains(tap), "the record does not name the tap yet");
        vm.close();
        killed.restore();
        Files.delete(record().runtimeDir().resolve("qmp.sock")); // and QMP cannot be reached: only stop works

        vm = QemuHypervisor.reattach(record(), host);
        assertEquals(io.hvspi.spi.VmState.FAILED, vm.state(), "QMP cannot be reached");
        assertTrue(HostTaps.exists(tap));
        vm.stop();
        assertFalse(HostTaps.exists(tap), "the tap hvspi made, known only from the log, is removed with QEMU");
    }

    @Test
    void aDamagedIntentLogLeavesAVmThatOnlyStopsAndItsStopRemovesTheTaps() throws Exception {
        String tap = tapName();
        net().attach(NetDeviceSpec.of("nic0", NetBackend.newTap(tap)));
        vm.close(); // the record names the tap now
        Path logFile = new RuntimeLayout(record().runtimeDir()).intentLog();
        Files.writeString(logFile, "garbage\n", java.nio.file.StandardOpenOption.APPEND);
        long pid = record().pid();

        vm = QemuHypervisor.reattach(record(), host);
        assertEquals(io.hvspi.spi.VmState.FAILED, vm.state());
        io.hvspi.spi.HvspiException e = assertThrows(io.hvspi.spi.HvspiException.class, () -> net().list());
        assertTrue(e.getMessage().startsWith("VM 'n' has a damaged intent log (only stop works): corrupt intent log "
                + logFile + " line 1: "), e.getMessage());
        vm.stop();
        assertFalse(HostTaps.exists(tap), "the tap hvspi made goes with QEMU, as on any stop");
        assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "QEMU still runs");
        assertTrue(host.stateStore().load("n").isEmpty(), "record left");
    }

    @Test
    void aFailedDeviceAddRollsBackTheNetdevAndTheTap() {
        String tap = tapName();
        // another client took the id behind hvspi's back: QEMU accepts the netdev and refuses the device
        List<String> ports = TestVms.durable(record()).rootPorts();
        vm.monitorCommand("device_add", QmpClient.args().put("driver", "virtio-rng-pci").put("id", "nic0")
                .put("bus", ports.get(ports.size() - 1)));
        assertThrows(VmmException.class, () -> net().attach(NetDeviceSpec.of("nic0", NetBackend.newTap(tap))));
        assertFalse(infoNetwork().contains(NetArgs.netdevId("nic0")), "netdev rolled back: " + infoNetwork());
        assertFalse(HostTaps.exists(tap), "the tap hvspi made for it is gone");
        assertEquals(List.of(), net().list());
        QemuState saved = TestVms.durable(record());
        assertEquals(List.of(), saved.nics());
        assertEquals(List.of(), saved.intents(), "the attach's intent is cleared");
    }

    @Test
    void refusesUnknownInvalidAndTakenIdsAndMissingTaps() {
        RequestRejectedException unknown = assertThrows(RequestRejectedException.class, () -> net().detach("nope"));
        assertEquals(Reason.NOT_FOUND, unknown.reason());
        assertEquals(Reason.INVALID_ARGUMENT, assertThrows(RequestRejectedException.class,
                () -> net().attach(NetDeviceSpec.of("a,b", NetBackend.newTap(tapName())))).reason());
        assertEquals(Reason.INVALID_ARGUMENT, assertThrows(RequestRejectedException.class,
                () -> net().attach(NetDeviceSpec.of("n0", NetBackend.newTap(tapName())).withMac("01:00:5e:00:00:01")))
                .reason());
        assertEquals(Reason.NOT_FOUND, assertThrows(RequestRejectedException.class,
                () -> net().attach(NetDeviceSpec.of("n0", NetBackend.tap(tapName())))).reason());
        vm.requireHotplug().attach(BlockDeviceSpec.builder("disk0", BlockBackend.nullBackend()).build());
        String tap = tapName();
        assertEquals(Reason.DUPLICATE_ID, assertThrows(RequestRejectedException.class,
                () -> net().attach(NetDeviceSpec.of("disk0", NetBackend.newTap(tap)))).reason(),
                "NICs and disks share one id space");
        assertFalse(HostTaps.exists(tap), "a refused attach makes no tap");
    }

    @Test
    void aReattachedHandleSeesTheNicsAndStillDetaches() {
        String tap = tapName();
        NetDevice nic = net().attach(NetDeviceSpec.of("nic0", NetBackend.newTap(tap)));
        vm.close();
        vm = QemuHypervisor.reattach(record(), host);
        assertEquals(List.of(), vm.reconciliation());
        assertEquals(List.of(nic), net().list());
        net().detach("nic0");
        assertFalse(HostTaps.exists(tap));
    }

    @Test
    void aFreshProcessSeesTheNics() throws Exception {
        String tap = tapName();
        NetDevice nic = net().attach(NetDeviceSpec.of("nic0", NetBackend.newTap(tap)));
        vm.close();
        Path log = tmp.resolve("child.log");
        try (ChildJvm child = ChildJvm.start(host.runtimeRoot(), "n", "nics", log, false)) {
            assertTrue(child.awaitLine("nic nic0 " + nic.mac() + " " + tap, 60_000), "see " + log);
            assertTrue(child.awaitLine("done", 60_000), "see " + log);
        }
        vm = QemuHypervisor.reattach(record(), host);
    }

    /**
     * SIGKILL of the hvspi process at random points of a NIC attach (0 to 400 ms after the
     * child reattached: its intent's save, tap creation, netdev_add, device_add, the record;
     * here about two thirds of the runs end with the NIC, one third without): the next
     * reattach leaves either the whole NIC (QEMU's device, its netdev and tap, recorded)
     * or nothing of it.
     */
    @Test
    void aNicAttachKilledAtAnyPointIsAllOrNothingAfterReattach() throws Exception {
        vm.close();
        java.util.Random random = new java.util.Random(13);
        int whole = 0;
        int nothing = 0;
        for (int run = 0; run < 6; run++) {
            String tap = tapName();
            Path log = tmp.resolve("kill" + run + ".log");
            try (ChildJvm child = ChildJvm.start(host.runtimeRoot(), "n", "nic-attach", log, false, tap)) {
                assertTrue(child.awaitLine("ready", 60_000), "see " + log);
                java.util.concurrent.locks.LockSupport.parkNanos((long) (random.nextDouble() * 400_000_000L));
                child.kill();
            }
            vm = QemuHypervisor.reattach(record(), host);
            List<NetDevice> nics = net().list();
            QemuState saved = TestVms.durable(record());
            assertEquals(List.of(), saved.intents(), "run " + run + ": no intent left");
            if (nics.isEmpty()) {
                nothing++;
                assertFalse(infoNetwork().contains(NetArgs.netdevId("nic0")), "run " + run + ": " + infoNetwork());
                assertFalse(HostTaps.exists(tap), "run " + run + ": the tap of a rolled back attach is gone");
            } else {
                whole++;
                assertEquals(tap, ((NetBackend.Tap) nics.get(0).backend()).name());
                assertEquals(nics.get(0).mac(), qomGet("nic0", "mac"));
                assertTrue(HostTaps.exists(tap));
                net().detach("nic0");
                assertFalse(HostTaps.exists(tap));
            }
            vm.close();
        }
        vm = QemuHypervisor.reattach(record(), host);
        System.out.printf("NIC attach killed at random: %d whole, %d nothing%n", whole, nothing);
    }

    @Test
    void anAttachInterruptedAfterNetdevAddIsRolledBackOnReattach() {
        String tap = tapName();
        HostTaps.create(tap, 1);
        String netdev = NetArgs.netdevId("nic9");
        // what a process that died between netdev_add and device_add leaves: the intent, the tap, the netdev
        vm.monitorCommand("netdev_add", NetArgs.netdevAdd(netdev, tap, 1, false));
        QemuState saved = TestVms.durable(record());
        NicState planned = new NicState("nic9", netdev, tap, true, "02:00:00:00:00:09", 1,
                saved.rootPorts().get(0), false);
        QemuState crashed = saved.with(saved.devices(), saved.ioThreads(), List.of(Intent.nicAttach(planned)),
                saved.nextNode());
        VmRecord r = record();
        host.stateStore().save(new VmRecord(r.vmId(), r.hypervisorType(), r.pid(), r.runtimeDir(), r.createdAt(),
                crashed.toJson()));
        vm.close();
        vm = QemuHypervisor.reattach(record(), host);
        assertTrue(vm.reconciliation().stream().anyMatch(n -> n.contains("'nic9'") && n.contains("rolled back")),
                vm.reconciliation().toString());
        assertFalse(infoNetwork().contains(netdev), infoNetwork());
        assertFalse(HostTaps.exists(tap));
        assertEquals(List.of(), TestVms.durable(record()).intents());
    }

    @Test
    void anAttachInterruptedAfterDeviceAddIsAdopted() {
        String tap = tapName();
        HostTaps.create(tap, 1);
        String netdev = NetArgs.netdevId("nic8");
        QemuState saved = TestVms.durable(record());
        String port = saved.rootPorts().get(0);
        vm.monitorCommand("netdev_add", NetArgs.netdevAdd(netdev, tap, 1, false));
        vm.monitorCommand("device_add", NetArgs.virtioNetPci("nic8", netdev, port, "02:00:00:00:00:08", 1));
        NicState planned = new NicState("nic8", netdev, tap, true, "02:00:00:00:00:08", 1, port, false);
        VmRecord r = record();
        host.stateStore().save(new VmRecord(r.vmId(), r.hypervisorType(), r.pid(), r.runtimeDir(), r.createdAt(),
                saved.with(saved.devices(), saved.ioThreads(), List.of(Intent.nicAttach(planned)), saved.nextNode())
                        .toJson()));
        vm.close();
        vm = QemuHypervisor.reattach(record(), host);
        assertEquals(List.of("nic8"), net().list().stream().map(NetDevice::id).toList(), vm.reconciliation().toString());
        net().detach("nic8");
        assertFalse(HostTaps.exists(tap), "adopted with the tap hvspi made, removed on detach");
    }
}
