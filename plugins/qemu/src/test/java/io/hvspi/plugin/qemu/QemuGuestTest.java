package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.core.config.KataConfigLoader;
import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.state.DeviceState;
import io.hvspi.plugin.qemu.state.Intent;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.ConfigException;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmState;
import io.hvspi.guest.BlockRead;
import io.hvspi.guest.FioResult;
import io.hvspi.guest.GuestConsole;
import io.hvspi.guest.GuestDisk;
import io.hvspi.guest.TestGuest;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The plugin end to end with a real guest (the test guest: Debian kernel, busybox,
 * fio; TCG), booted from a Kata configuration with {@code enable_iothreads = true}
 * and {@code indep_iothreads = 2}. Every step is checked from three sides: inside
 * the guest (its serial console), in QEMU ({@code qom-get}, {@code query-block},
 * {@code query-named-block-nodes}, events) and in hvspi's pool accounting.
 *
 * <p>One guest serves the class (a boot costs about 7 s under TCG); each test
 * attaches disks with ids of its own and detaches what is left afterwards. No
 * {@code system_reset} is involved: the guest's pciehp answers every unplug.
 */
@Tag("guest")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class QemuGuestTest {
    private static final Duration BOOT = Duration.ofSeconds(120);
    private static final Duration STEP = Duration.ofSeconds(30);
    private static final String VM_ID = "guest";
    private static final int BLOCK = 4096;

    private Path tmp;
    private TestGuest guest;
    private DefaultHostContext host;
    private QemuHypervisor vm;
    private GuestConsole console;
    private DeviceHotplug hotplug;
    private IOThreadProvider pool;
    private final List<VmEvent> events = new CopyOnWriteArrayList<>();

    @BeforeAll
    void boot(@TempDir Path dir) {
        tmp = dir;
        guest = TestGuest.get();
        VmSpec spec = KataConfigLoader.load(config("configuration.toml", guest.kernel())).toVmSpec(VM_ID);
        host = TestVms.host(tmp).withOption(QemuHypervisor.OPTION_START_PAUSED, "true");
        vm = (QemuHypervisor) new QemuHypervisorFactory().create(spec, host);
        vm.start();
        assertEquals(VmState.PAUSED, vm.state(), "start-paused holds the guest until the console listens");
        vm.subscribe(events::add);
        Path socket = host.stateStore().load(VM_ID).orElseThrow().runtimeDir().resolve("console.sock");
        console = GuestConsole.connect(socket, STEP, Optional.of(Path.of("target", "qemu-guest-console.log")));
        vm.resume();
        console.awaitReady(BOOT);
        hotplug = vm.requireHotplug();
        pool = vm.requireIoThreads();
    }

    /** Detaches what a test left, consuming the guest's removal lines so that a later test cannot mistake them. */
    @AfterEach
    void detachAll() {
        Map<String, String> guestNames = new HashMap<>();
        console.disks(STEP).forEach((name, serial) -> guestNames.put(serial, name));
        for (BlockDevice d : hotplug.list()) {
            hotplug.detach(d.id());
            String name = guestNames.get(d.id());
            if (name != null) {
                console.awaitDiskRemoved(name, STEP);
            }
        }
    }

    @AfterAll
    void shutdown() {
        try {
            if (console != null) {
                console.close();
            }
        } finally {
            if (vm != null) {
                vm.stop();
            }
        }
        assertFalse(events.stream().anyMatch(e -> e.name().equals("RESET")),
                "the guest acknowledges unplugs itself; no reset: " + events);
    }

    @Test
    void leastLoadedPutsTwoDisksOnDifferentIOThreadsAndTheGuestReadsAndWritesBoth() throws IOException {
        Path image = image("raw.img", 16 << 20);
        hotplug.attach(BlockDeviceSpec.builder("disk-raw", BlockBackend.path(image)).build());
        hotplug.attach(BlockDeviceSpec.builder("disk-null", BlockBackend.nullBackend()).build());
        GuestDisk raw = console.awaitDiskAdded("disk-raw", STEP);
        GuestDisk nul = console.awaitDiskAdded("disk-null", STEP);
        assertEquals(16 << 20, raw.sizeBytes());
        assertEquals(1L << 30, nul.sizeBytes());
        assertEquals(Map.of(raw.name(), "disk-raw", nul.name(), "disk-null"), console.disks(STEP));

        String rawThread = iothreadOf("disk-raw");
        String nullThread = iothreadOf("disk-null");
        assertNotEquals(rawThread, nullThread, "least-loaded spreads two disks over the two IOThreads");
        assertEquals(Set.of("indep_iothread_0", "indep_iothread_1"), Set.of(rawThread, nullThread));
        assertEquals(Map.of(rawThread, List.of("disk-raw"), nullThread, List.of("disk-null")), devicesByIOThread());

        // guest to host: the token lands in the file
        String token = token("from-guest");
        console.write(raw.name(), token, STEP);
        assertEquals(token + "\n", new String(readBlock(image), StandardCharsets.US_ASCII).substring(0,
                token.length() + 1));
        // host to guest: the guest reads past its page cache what the host wrote
        byte[] block = new byte[BLOCK];
        ThreadLocalRandom.current().nextBytes(block);
        String hostToken = token("from-host");
        byte[] line = (hostToken + "\n").getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(line, 0, block, 0, line.length);
        writeBlock(image, block);
        BlockRead read = console.read(raw.name(), STEP);
        assertEquals(hostToken, read.text());
        assertEquals(sha256(block), read.sha256());

        // the null backend takes writes and reads zeros
        console.write(nul.name(), token, STEP);
        assertEquals(sha256(new byte[BLOCK]), console.read(nul.name(), STEP).sha256());

        FioResult fio = console.fio(List.of(raw.name(), nul.name()), Duration.ofSeconds(1), Map.of("rw", "randrw"),
                STEP);
        assertTrue(fio.readIops() > 0 && fio.writeIops() > 0, "random reads and writes on both disks: " + fio);
    }

    @Test
    void anUnplugIsSeenByTheGuestAndQemuAndReleasesTheNodeAndTheIOThread() {
        hotplug.attach(BlockDeviceSpec.builder("unplug-a", BlockBackend.nullBackend()).build());
        hotplug.attach(BlockDeviceSpec.builder("unplug-b", BlockBackend.nullBackend()).build());
        GuestDisk a = console.awaitDiskAdded("unplug-a", STEP);
        GuestDisk b = console.awaitDiskAdded("unplug-b", STEP);
        String threadA = iothreadOf("unplug-a");
        String threadB = iothreadOf("unplug-b");
        String nodeA = nodeOf("unplug-a");
        String nodeB = nodeOf("unplug-b");
        assertTrue(blockNodes().containsAll(Set.of(nodeA, nodeB)));
        assertEquals(1, loadOf(threadA));

        hotplug.detach("unplug-a");
        console.awaitDiskRemoved(a.name(), STEP);
        awaitTrue("DEVICE_DELETED for unplug-a", () -> events.stream().anyMatch(e ->
                e.name().equals("DEVICE_DELETED") && "unplug-a".equals(e.data().get("device"))));
        Set<String> nodes = blockNodes();
        assertFalse(nodes.contains(nodeA), "blockdev-del removed " + nodeA + ": " + nodes);
        assertTrue(nodes.contains(nodeB));
        assertEquals(0, loadOf(threadA), "the IOThread's count dropped");
        assertEquals(1, loadOf(threadB));
        assertEquals(Map.of(b.name(), "unplug-b"), console.disks(STEP));
        assertEquals(List.of("unplug-b"), hotplug.list().stream().map(BlockDevice::id).toList());
    }

    @Test
    void aMoveReplugsTheDiskOnAnotherIOThreadAndTheGuestReadsItsDataBack() throws IOException {
        Path image = image("move.img", 16 << 20);
        BlockDevice before = hotplug.attach(BlockDeviceSpec.builder("move-raw", BlockBackend.path(image)).build());
        GuestDisk disk = console.awaitDiskAdded("move-raw", STEP);
        String token = token("before-move");
        console.write(disk.name(), token, STEP);
        String from = iothreadOf("move-raw");
        assertEquals(before.ioThreads(), List.of(from));
        String to = from.equals("indep_iothread_0") ? "indep_iothread_1" : "indep_iothread_0";

        BlockDevice moved = hotplug.move("move-raw", IOThreadChoice.named(to));
        console.awaitDiskRemoved(disk.name(), STEP);
        GuestDisk back = console.awaitDiskAdded("move-raw", STEP);
        assertEquals(List.of(to), moved.ioThreads());
        assertEquals(to, iothreadOf("move-raw"), "QEMU runs the replugged device on the new IOThread");
        assertEquals(0, loadOf(from));
        assertEquals(1, loadOf(to));
        assertEquals(token, console.read(back.name(), STEP).text(), "the data survived the replug");
    }

    /**
     * A process killed right after its move's {@code device_del} returned: the unplug is pending
     * with the guest, the move's intent in the record. The reattach asks the unplug again (QEMU
     * answers that it is already pending) and waits for the guest to release the disk; a guest that
     * takes longer than that (here: paused) leaves the move to the session, which plugs the disk in
     * on the move's target when QEMU reports it deleted. It used to record the device where it was and drop the intent; the
     * pending unplug then completed and the disk was dropped from the records, its node left behind.
     */
    @Test
    void aMoveCutOffAfterItsUnplugEndsOnItsTargetAfterAReattach() throws IOException {
        Path image = image("cut.img", 16 << 20);
        hotplug.attach(BlockDeviceSpec.builder("move-cut", BlockBackend.path(image))
                .ioThread(IOThreadChoice.named("indep_iothread_0")).build());
        GuestDisk disk = console.awaitDiskAdded("move-cut", STEP);
        // the dead process: its move's intent recorded, its device_del answered, nothing after that; the guest
        // is held (paused) so that the unplug is still pending when the next process reattaches
        vm.pause();
        vm.monitorCommand("device_del", QmpClient.args().put("id", "move-cut"));
        vm.close();
        VmRecord record = host.stateStore().load(VM_ID).orElseThrow();
        QemuState s = TestVms.durable(record);
        DeviceState d = s.devices().stream().filter(x -> x.id().equals("move-cut")).findFirst().orElseThrow();
        // its intent as the move logs it once QEMU took the device_del: marked (see Intent#withUnplugAsked)
        QemuState dead = s.with(s.devices(), s.ioThreads(),
                List.of(Intent.move(d, List.of("indep_iothread_1")).withUnplugAsked()), s.nextNode());
        host.stateStore().save(new VmRecord(record.vmId(), record.hypervisorType(), record.pid(), record.runtimeDir(),
                record.createdAt(), dead.toJson()));

        vm = QemuHypervisor.reattach(host.stateStore().load(VM_ID).orElseThrow(), host);
        vm.subscribe(events::add);
        hotplug = vm.requireHotplug();
        pool = vm.requireIoThreads();
        assertEquals(List.of("indep_iothread_0"), hotplug.list().stream().filter(b -> b.id().equals("move-cut"))
                .findFirst().orElseThrow().ioThreads(), () -> "still where it was: " + vm.reconciliation());
        vm.resume();
        console.awaitDiskRemoved(disk.name(), STEP);
        console.awaitDiskAdded("move-cut", STEP);
        long deadline = System.nanoTime() + STEP.toNanos();
        while (!hotplug.list().stream().anyMatch(b -> b.id().equals("move-cut")
                && b.ioThreads().equals(List.of("indep_iothread_1")))) {
            assertTrue(System.nanoTime() < deadline, () -> "the move did not end on its target: " + hotplug.list()
                    + "; reattach: " + vm.reconciliation());
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
        assertEquals("indep_iothread_1", iothreadOf("move-cut"), "QEMU has it on the move's target");
        QemuState settled = TestVms.durable(host.stateStore().load(VM_ID).orElseThrow());
        assertEquals(List.of(), settled.intents(), "the move is finished");
        assertEquals(List.of("indep_iothread_1"), settled.devices().stream().filter(x -> x.id().equals("move-cut"))
                .findFirst().orElseThrow().ioThreads());
        assertEquals(d.nodeName(), settled.devices().stream().filter(x -> x.id().equals("move-cut"))
                .findFirst().orElseThrow().nodeName(), "the same block node");
    }

    @Test
    void aKernelThatDoesNotExistFailsBeforeQemuStarts() throws IOException {
        Path missing = tmp.resolve("no-such-vmlinuz");
        VmSpec spec = KataConfigLoader.load(config("missing-kernel.toml", missing)).toVmSpec("nokernel");
        ConfigException e = assertThrows(ConfigException.class,
                () -> new QemuHypervisorFactory().create(spec, host).start());
        assertEquals(Optional.of("hypervisor.qemu.kernel"), e.key());
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());

        // a kernel that goes away between create and start fails the same way, still before QEMU
        Path vanishing = Files.copy(guest.kernel(), tmp.resolve("vanishing-vmlinuz"));
        Hypervisor created = new QemuHypervisorFactory().create(
                KataConfigLoader.load(config("vanishing-kernel.toml", vanishing)).toVmSpec("vanished"), host);
        Files.delete(vanishing);
        ConfigException late = assertThrows(ConfigException.class, created::start);
        assertTrue(late.getMessage().contains(vanishing.toString()), late.getMessage());
        assertEquals(VmState.CREATED, created.state());
        created.close();

        for (String id : List.of("nokernel", "vanished")) {
            assertFalse(Files.exists(host.runtimeRoot().resolve(id)), "no runtime directory for " + id);
            assertTrue(host.stateStore().load(id).isEmpty(), "no state record for " + id);
        }
        assertEquals(List.of(), processesMentioning(missing.toString(), vanishing.toString()),
                "no QEMU was spawned");
    }

    /** A Kata configuration for the test guest under TCG, with two independent IOThreads. */
    private Path config(String name, Path kernel) {
        String toml = """
                [hypervisor.qemu]
                path = '%s'
                kernel = '%s'
                initrd = '%s'
                kernel_params = '%s'
                machine_type = "q35"
                default_vcpus = 1
                default_memory = 512
                block_device_driver = "virtio-blk-pci"
                enable_iothreads = true
                indep_iothreads = 2
                indep_iothreads_policy = "least-loaded"
                accel = "tcg"
                hotplug_slots = 4
                """.formatted(TestVms.QEMU, kernel, guest.initrd(), TestGuest.KERNEL_PARAMS);
        try {
            return Files.writeString(tmp.resolve(name), toml);
        } catch (IOException e) {
            throw new AssertionError("cannot write " + name, e);
        }
    }

    /** The IOThread QEMU says the device runs on ({@code qom-get} of its {@code iothread} link). */
    private String iothreadOf(String deviceId) {
        String path = vm.monitorCommand("qom-get", QmpClient.args().put("path", "/machine/peripheral/" + deviceId)
                .put("property", "iothread")).asText();
        return path.substring(path.lastIndexOf('/') + 1);
    }

    /** The block node QEMU has inserted into the device ({@code query-block}). */
    private String nodeOf(String deviceId) {
        for (JsonNode b : vm.monitorCommand("query-block", null)) {
            if (b.path("qdev").asText().startsWith("/machine/peripheral/" + deviceId + "/")) {
                return b.path("inserted").path("node-name").asText();
            }
        }
        throw new AssertionError("QEMU has no block backend for " + deviceId);
    }

    private Set<String> blockNodes() {
        Set<String> out = new HashSet<>();
        vm.monitorCommand("query-named-block-nodes", QmpClient.args().put("flat", true))
                .forEach(n -> out.add(n.path("node-name").asText()));
        return out;
    }

    private Map<String, List<String>> devicesByIOThread() {
        Map<String, List<String>> out = new HashMap<>();
        pool.list().stream().filter(t -> t.load() > 0).forEach(t -> out.put(t.id(), t.devices()));
        return out;
    }

    private int loadOf(String ioThread) {
        return pool.list().stream().filter(t -> t.id().equals(ioThread)).mapToInt(IOThreadInfo::load).findFirst()
                .orElseThrow(() -> new AssertionError("no IOThread " + ioThread));
    }

    private Path image(String name, int bytes) throws IOException {
        Path image = tmp.resolve(name);
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(bytes);
        }
        return image;
    }

    private static byte[] readBlock(Path image) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "r")) {
            byte[] block = new byte[BLOCK];
            f.readFully(block);
            return block;
        }
    }

    private static void writeBlock(Path image, byte[] block) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.write(block);
            f.getFD().sync();
        }
    }

    private static String token(String prefix) {
        return prefix + "-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    private static void awaitTrue(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + STEP.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
        }
    }

    /** Host processes whose command line contains any of {@code needles}. */
    private static List<String> processesMentioning(String... needles) throws IOException {
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            return procs.filter(p -> p.getFileName().toString().chars().allMatch(Character::isDigit))
                    .map(p -> {
                        try {
                            return new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8)
                                    .replace('\0', ' ');
                        } catch (IOException e) {
                            return ""; // the process ended while we looked
                        }
                    })
                    .filter(cmd -> Stream.of(needles).anyMatch(cmd::contains))
                    .toList();
        }
    }
}
