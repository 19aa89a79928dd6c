package io.hvspi.tck;

import static io.hvspi.spi.Capability.BLOCK_DEVICE_HOTPLUG;
import static io.hvspi.spi.Capability.MULTI_QUEUE;
import static io.hvspi.spi.Capability.NETWORK_DEVICE_HOTPLUG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.NetBackend;
import io.hvspi.spi.NetDevice;
import io.hvspi.spi.NetDeviceSpec;
import io.hvspi.spi.NetworkHotplug;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmmException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Pattern;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * Attaching, listing and detaching network devices on a running VM, and what goes
 * wrong: the guarantees of {@link NetworkHotplug}. Host ends come from the backend
 * ({@link io.hvspi.tck.backend.TckBackend#tap}), named uniquely per test so that
 * parallel runs on one host never share a tap.
 */
@Contract(value = "network", title = "Network hotplug")
public abstract class NetworkHotplugContract extends ContractBase {
    /** A MAC as the SPI reports it: lower case, colon separated. */
    static final Pattern MAC = Pattern.compile("[0-9a-f]{2}(:[0-9a-f]{2}){5}");
    private static final SecureRandom RANDOM = new SecureRandom();
    /** Rounds of the disk-against-NIC race: each overlaps two attaches, a few find a lock-order deadlock. */
    private static final int RACE_ROUNDS = 4;

    protected NetworkHotplugContract(TckKit kit) {
        super(kit);
    }

    @Test
    @Order(1)
    @Exercises(NETWORK_DEVICE_HOTPLUG)
    @DisplayName("attach with and without a MAC, list, and detach")
    void attachListAndDetach() {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, NETWORK_DEVICE_HOTPLUG, vm::requireNetworkHotplug)) {
            return;
        }
        NetworkHotplug net = network(vm);
        String mac = "0A:12:34:56:78:9A";
        NetDeviceSpec specA = NetDeviceSpec.of("tck-n1", kit.backend().tap(tapName())).withMac(mac);
        NetDevice a = net.attach(specA);
        assertEquals("tck-n1", a.id());
        assertEquals(mac.toLowerCase(java.util.Locale.ROOT), a.mac(), "the MAC asked for, in lower case");
        assertEquals(specA.backend(), a.backend());
        assertEquals(1, a.queues());
        NetDevice b = net.attach(NetDeviceSpec.of("tck-n2", kit.backend().tap(tapName())));
        assertTrue(MAC.matcher(b.mac()).matches(), () -> "a generated MAC, lower case: " + b.mac());
        assertEquals(List.of(a, b), net.list(), "list() reports the devices as attach did, in attach order");
        net.detach("tck-n1");
        assertEquals(List.of(b), net.list());
        net.detach("tck-n2");
        assertEquals(List.of(), net.list());
    }

    @Test
    @Order(2)
    @Exercises(NETWORK_DEVICE_HOTPLUG)
    @DisplayName("generated MACs are locally administered unicast and distinct")
    void generatedMacsAreLocalUnicast() {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, NETWORK_DEVICE_HOTPLUG, vm::requireNetworkHotplug)) {
            return;
        }
        Set<String> macs = new HashSet<>();
        for (int i = 0; i < 3; i++) {
            NetDevice d = network(vm).attach(NetDeviceSpec.of("tck-g" + i, kit.backend().tap(tapName())));
            int first = Integer.parseInt(d.mac().substring(0, 2), 16);
            assertTrue((first & 0b10) != 0, () -> d.mac() + " must be locally administered (bit 1 of octet 0 set)");
            assertTrue((first & 0b01) == 0, () -> d.mac() + " must be unicast (bit 0 of octet 0 clear)");
            assertTrue(macs.add(d.mac()), () -> "generated MAC " + d.mac() + " repeats: " + macs);
        }
    }

    @Test
    @Order(3)
    @Exercises(NETWORK_DEVICE_HOTPLUG)
    @DisplayName("a failed attach leaves nothing behind, and the id stays free")
    void failedAttachLeavesNothing() {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, NETWORK_DEVICE_HOTPLUG, vm::requireNetworkHotplug)) {
            return;
        }
        NetDeviceSpec bad = NetDeviceSpec.of("tck-nbad", kit.backend().unusableTap());
        HvspiException e = assertThrows(HvspiException.class, () -> network(vm).attach(bad),
                () -> "attaching " + bad.backend() + " (not a tap) must fail");
        assertTrue(e instanceof VmmException || e instanceof RequestRejectedException,
                () -> "an unusable host end must give VmmException (the VMM's refusal) or RequestRejectedException, got " + e);
        assertOneLine(e);
        assertEquals(List.of(), network(vm).list(), "a failed attach must leave no device");
        network(vm).attach(NetDeviceSpec.of("tck-nbad", kit.backend().tap(tapName())));
        assertEquals(List.of("tck-nbad"), network(vm).list().stream().map(NetDevice::id).toList(),
                "the id of a failed attach must be free again");
    }

    @Test
    @Order(4)
    @Exercises(NETWORK_DEVICE_HOTPLUG)
    @DisplayName("a duplicate id is refused, also across disks and network devices")
    void duplicateIdIsRejected() {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, NETWORK_DEVICE_HOTPLUG, vm::requireNetworkHotplug)) {
            return;
        }
        NetDevice first = network(vm).attach(NetDeviceSpec.of("tck-nd", kit.backend().tap(tapName())));
        assertRejected(Reason.DUPLICATE_ID,
                () -> network(vm).attach(NetDeviceSpec.of("tck-nd", kit.backend().tap(tapName()))),
                "a second network device with id 'tck-nd'");
        if (vm.supports(BLOCK_DEVICE_HOTPLUG)) {
            assertRejected(Reason.DUPLICATE_ID, () -> hotplug(vm).attach(disk(vm, "tck-nd").build()),
                    "a disk with the id of network device 'tck-nd' (one id namespace per VM)");
            assertEquals(List.of(), hotplug(vm).list(), "the refused disk must not be attached");
        }
        assertEquals(List.of(first), network(vm).list());
    }

    @Test
    @Order(5)
    @Exercises(NETWORK_DEVICE_HOTPLUG)
    @DisplayName("detaching an unknown network device is refused")
    void detachOfAnUnknownDeviceIsRejected() {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, NETWORK_DEVICE_HOTPLUG, vm::requireNetworkHotplug)) {
            return;
        }
        assertRejected(Reason.NOT_FOUND, () -> network(vm).detach("tck-nothing"), "detaching 'tck-nothing'");
    }

    @Test
    @Order(6)
    @Exercises(NETWORK_DEVICE_HOTPLUG)
    @DisplayName("an invalid id or MAC is refused and attaches nothing")
    void invalidIdAndMacAreRejected() {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, NETWORK_DEVICE_HOTPLUG, vm::requireNetworkHotplug)) {
            return;
        }
        assertRejected(Reason.INVALID_ARGUMENT,
                () -> network(vm).attach(NetDeviceSpec.of("bad,id=1", kit.backend().tap(tapName()))),
                "network device id 'bad,id=1'");
        assertRejected(Reason.INVALID_ARGUMENT, () -> network(vm).attach(
                NetDeviceSpec.of("tck-mc", kit.backend().tap(tapName())).withMac("01:00:5e:00:00:01")),
                "multicast MAC 01:00:5e:00:00:01");
        assertRejected(Reason.INVALID_ARGUMENT, () -> network(vm).attach(
                NetDeviceSpec.of("tck-mx", kit.backend().tap(tapName())).withMac("52:54:00:zz:00:01")),
                "malformed MAC 52:54:00:zz:00:01");
        assertEquals(List.of(), network(vm).list());
        NetDevice ok = network(vm).attach(NetDeviceSpec.of("tck-mc", kit.backend().tap(tapName())));
        assertNotEquals("01:00:5e:00:00:01", ok.mac());
    }

    @Test
    @Order(7)
    @Exercises(NETWORK_DEVICE_HOTPLUG)
    @DisplayName("a disk and a network device attached at once under one id: one is refused, neither hangs")
    void aDiskAndANetworkDeviceRacingForOneId() throws InterruptedException {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, NETWORK_DEVICE_HOTPLUG, vm::requireNetworkHotplug) || !vm.supports(BLOCK_DEVICE_HOTPLUG)) {
            return;
        }
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try {
            for (int round = 0; round < RACE_ROUNDS; round++) {
                String id = "tck-race" + round;
                NetDeviceSpec nic = NetDeviceSpec.of(id, kit.backend().tap(tapName()));
                BlockDeviceSpec disk = disk(vm, id).build();
                CyclicBarrier together = new CyclicBarrier(2);
                Future<?> diskAttach = threads.submit(() -> {
                    together.await();
                    return hotplug(vm).attach(disk);
                });
                Future<?> nicAttach = threads.submit(() -> {
                    together.await();
                    return network(vm).attach(nic);
                });
                boolean diskWon = attachedOrDuplicate(diskAttach, "the attach of disk '" + id + "'");
                boolean nicWon = attachedOrDuplicate(nicAttach, "the attach of network device '" + id + "'");
                assertTrue(diskWon ^ nicWon, "exactly one of a disk and a network device attached at once with id '"
                        + id + "' must be attached (disk: " + diskWon + ", network device: " + nicWon + ")");
                assertEquals(diskWon, hotplug(vm).list().stream().anyMatch(d -> d.id().equals(id)),
                        "list() must show the disk '" + id + "' exactly when its attach returned it");
                assertEquals(nicWon, network(vm).list().stream().anyMatch(d -> d.id().equals(id)),
                        "list() must show the network device '" + id + "' exactly when its attach returned it");
            }
        } finally {
            threads.shutdownNow();
        }
    }

    @Test
    @Order(8)
    @Exercises(NETWORK_DEVICE_HOTPLUG)
    @DisplayName("stop while network devices attach: every call returns, nothing of the VM is left, no tap")
    void stopWhileNetworkDevicesAttach() throws InterruptedException {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, NETWORK_DEVICE_HOTPLUG, vm::requireNetworkHotplug)) {
            return;
        }
        Set<String> taps = ConcurrentHashMap.newKeySet(); // those the plugin was asked to create
        assertStopCutsAttachesShort(vm, "tck-ns", id -> {
            NetBackend end = kit.backend().tap(tapName());
            if (end instanceof NetBackend.Tap tap && tap.create()) {
                taps.add(tap.name());
            }
            network(vm).attach(NetDeviceSpec.of(id, end));
        });
        for (String tap : taps) {
            assertFalse(Files.exists(Path.of("/sys/class/net", tap)), () -> "tap '" + tap + "' of an attach "
                    + "that stop cut short is left on the host");
        }
    }

    @Test
    @Order(9)
    @Exercises(MULTI_QUEUE)
    @DisplayName("a NIC with two queue pairs has them where multi-queue is declared, else is refused and leaves nothing")
    void nicQueuePairs() {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, NETWORK_DEVICE_HOTPLUG, vm::requireNetworkHotplug)) {
            return;
        }
        NetBackend end = kit.backend().tap(tapName());
        NetDeviceSpec spec = NetDeviceSpec.of("tck-nq", end).withQueues(2);
        if (vm.supports(MULTI_QUEUE)) {
            kit.note(TckKit.PATH_ENTRY, "supported");
            NetDevice d = network(vm).attach(spec);
            assertEquals(2, d.queues(), "a NIC attached with two queue pairs reports two");
            assertEquals(List.of(d), network(vm).list(), "list() reports the NIC as attach did");
            return;
        }
        // not kit.supports(MULTI_QUEUE): that guard also accepts a missing hotplug() view, which a NIC never goes through
        UnsupportedCapabilityException e = assertThrows(UnsupportedCapabilityException.class,
                () -> network(vm).attach(spec), () -> "hypervisor '" + vm.type() + "' does not have capability "
                        + MULTI_QUEUE.key() + ", so a NIC with two queue pairs must fail with UnsupportedCapabilityException");
        assertEquals(MULTI_QUEUE, e.capability(), () -> "the unsupported error names " + e.capability().key()
                + ", expected " + MULTI_QUEUE.key() + ": " + e.getMessage());
        kit.assertNamesMissingCapability(vm, MULTI_QUEUE, e);
        kit.note(TckKit.PATH_ENTRY, "unsupported:" + MULTI_QUEUE.key());
        assertEquals(List.of(), network(vm).list(), "a refused NIC must leave no device");
        if (end instanceof NetBackend.Tap tap && tap.create()) {
            assertFalse(Files.exists(Path.of("/sys/class/net", tap.name())),
                    () -> "the tap '" + tap.name() + "' of a refused NIC is left on the host");
        }
    }

    /** The network hotplug view; a VM with the capability but no view aborts the test (one root cause, reported once). */
    protected static NetworkHotplug network(Hypervisor vm) {
        TckKit.assumeViewFollows(vm, NETWORK_DEVICE_HOTPLUG);
        return vm.requireNetworkHotplug();
    }

    /** A tap name no other test or run on this host uses: 11 characters, under IFNAMSIZ. */
    static String tapName() {
        byte[] b = new byte[4];
        RANDOM.nextBytes(b);
        return "hvt" + HexFormat.of().formatHex(b);
    }
}
