package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.qemu.qmp.QemuVersion;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Capability;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.PollingParams;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The independent IOThread pool on the installed real QEMU (7.2 on Debian 12, 10.0 on
 * Debian 13; TCG, no guest; {@link IndependentIOThreadsOnOtherQemuTest} runs the same on
 * the other release's QEMU), checked through
 * QEMU itself ({@code query-iothreads}, {@code qom-get}) and the host ({@code /proc}),
 * not only through hvspi's records. One VM serves the class; each test detaches
 * what it attached.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class IndependentIOThreadsTest {
    private static final List<String> POOL = List.of("indep_iothread_0", "indep_iothread_1", "indep_iothread_2",
            "indep_iothread_3");

    private Path tmp;

    private DefaultHostContext host;
    private QemuHypervisor vm;
    private DeviceHotplug hotplug;
    private IOThreadProvider pool;

    /** The QEMU this class runs on; a subclass runs it on the other one. */
    QemuBinary qemu() {
        return QemuBinary.system();
    }

    @BeforeAll
    void startVm(@TempDir Path dir) {
        tmp = dir;
        host = TestVms.host(tmp);
        vm = (QemuHypervisor) new QemuHypervisorFactory().create(
                TestVms.spec(qemu().path(), "iothreads", 4, IOThreadPolicy.LEAST_LOADED), host);
        vm.start();
        hotplug = vm.requireHotplug();
        pool = vm.requireIoThreads();
    }

    @AfterEach
    void detachAll() {
        for (BlockDevice d : hotplug.list()) {
            hotplug.detach(d.id());
        }
    }

    @AfterAll
    void stopVm() {
        if (vm != null) {
            vm.stop();
        }
    }

    private static BlockDeviceSpec disk(String id, IOThreadChoice choice) {
        return BlockDeviceSpec.builder(id, BlockBackend.nullBackend()).ioThread(choice).build();
    }

    /** The IOThread QEMU says the device runs on ({@code qom-get} of its {@code iothread} link). */
    private String iothreadOf(String deviceId) {
        String path = vm.monitorCommand("qom-get", QmpClient.args().put("path", "/machine/peripheral/" + deviceId)
                .put("property", "iothread")).asText();
        return path.isEmpty() ? "" : path.substring(path.lastIndexOf('/') + 1);
    }

    private Map<String, Long> queryIothreads() {
        Map<String, Long> out = new HashMap<>();
        for (JsonNode t : vm.monitorCommand("query-iothreads", null)) {
            out.put(t.path("id").asText(), t.path("thread-id").asLong());
        }
        return out;
    }

    private Set<String> peripherals() {
        Set<String> out = new HashSet<>();
        vm.monitorCommand("qom-list", QmpClient.args().put("path", "/machine/peripheral"))
                .forEach(c -> out.add(c.path("name").asText()));
        return out;
    }

    private Set<String> blockNodes() {
        Set<String> out = new HashSet<>();
        vm.monitorCommand("query-named-block-nodes", QmpClient.args().put("flat", true))
                .forEach(n -> out.add(n.path("node-name").asText()));
        return out;
    }

    private QemuState savedState() {
        VmRecord record = host.stateStore().load("iothreads").orElseThrow();
        return TestVms.durable(record);
    }

    private static String comm(long pid, long tid) throws IOException {
        return Files.readString(Path.of("/proc", Long.toString(pid), "task", Long.toString(tid), "comm")).strip();
    }

    @Test
    void thePoolExistsWithKataIdsInQemuAndOnTheHost() throws IOException {
        Map<String, Long> live = queryIothreads();
        assertEquals(Set.copyOf(POOL), live.keySet());
        long pid = host.stateStore().load("iothreads").orElseThrow().pid();
        for (String id : POOL) {
            long tid = live.get(id);
            assertTrue(Files.isDirectory(Path.of("/proc", Long.toString(pid), "task", Long.toString(tid))),
                    id + " runs as host thread " + tid + " of QEMU " + pid);
            // "IO indep_iothread_0" does not fit the kernel's 15-byte thread name: the name stays QEMU's own
            assertEquals("qemu-system-x86", comm(pid, tid));
        }
        List<IOThreadInfo> listed = pool.list();
        assertEquals(POOL, listed.stream().map(IOThreadInfo::id).toList());
        for (IOThreadInfo info : listed) {
            assertEquals(live.get(info.id()), info.hostThreadId().getAsLong());
            assertEquals(IOThreadInfo.Kind.POOL, info.kind());
        }
        HostThreads threads = vm.hostThreads();
        assertEquals(pid, threads.pid());
        assertEquals(POOL, threads.withRole(HostThreads.Role.IOTHREAD).stream()
                .map(t -> t.owner().orElseThrow()).toList());
        List<HostThreads.HostThread> vcpus = threads.withRole(HostThreads.Role.VCPU);
        assertEquals(List.of("CPU 0/TCG", "CPU 1/TCG"), vcpus.stream().map(HostThreads.HostThread::name).toList());
        assertEquals(1, threads.withRole(HostThreads.Role.MAIN).size());
    }

    @Test
    void aShortIOThreadIdNamesItsHostThread() throws IOException {
        IOThreadInfo added = pool.add("io7");
        try {
            long pid = host.stateStore().load("iothreads").orElseThrow().pid();
            // debug-threads=on names the thread "IO <id>" when that fits into 15 bytes
            assertEquals("IO io7", comm(pid, added.hostThreadId().getAsLong()));
            assertEquals(queryIothreads().get("io7"), added.hostThreadId().getAsLong());
        } finally {
            pool.remove("io7");
        }
        assertFalse(queryIothreads().containsKey("io7"));
    }

    @Test
    void leastLoadedSpreadsEightDisksTwoPerIOThread() {
        for (int i = 0; i < 8; i++) {
            hotplug.attach(disk("ll" + i, IOThreadChoice.byPolicy()));
        }
        Map<String, Integer> perThread = new HashMap<>();
        for (int i = 0; i < 8; i++) {
            perThread.merge(iothreadOf("ll" + i), 1, Integer::sum);
        }
        assertEquals(Map.of(POOL.get(0), 2, POOL.get(1), 2, POOL.get(2), 2, POOL.get(3), 2), perThread);
        for (IOThreadInfo info : pool.list()) {
            assertEquals(2, info.load(), info.id());
        }
        List<BlockDevice> devices = hotplug.list();
        assertEquals(8, devices.size());
        for (BlockDevice d : devices) {
            assertEquals(List.of(iothreadOf(d.id())), d.ioThreads(), "hvspi's record agrees with QEMU for " + d.id());
            assertEquals(2, d.queues(), "one queue per vCPU, as Kata does");
        }
    }

    @Test
    void concurrentAttachesDoNotPileOntoOneIOThread() throws Exception {
        ExecutorService threads = Executors.newFixedThreadPool(4);
        try {
            List<Callable<BlockDevice>> attaches = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                String id = "cc" + i;
                attaches.add(() -> hotplug.attach(disk(id, IOThreadChoice.byPolicy())));
            }
            List<String> used = new ArrayList<>();
            for (Future<BlockDevice> f : threads.invokeAll(attaches)) {
                used.add(iothreadOf(f.get().id()));
            }
            assertEquals(Set.copyOf(POOL), Set.copyOf(used), "reservations spread concurrent attaches: " + used);
        } finally {
            threads.shutdownNow();
        }
    }

    @Test
    void detachRemovesDeviceAndNodeAndFreesTheSlot() {
        for (int i = 0; i < 4; i++) {
            hotplug.attach(disk("dt" + i, IOThreadChoice.byPolicy()));
        }
        assertEquals(POOL.get(2), iothreadOf("dt2"));
        Set<String> nodesBefore = blockNodes();
        hotplug.detach("dt2");
        assertFalse(peripherals().contains("dt2"), "QEMU removed the device");
        assertEquals(nodesBefore.size() - 1, blockNodes().size(), "the block node went with it");
        assertEquals(List.of(), pool.list().get(2).devices());
        assertEquals(POOL.get(2), pool.choose());
        assertFalse(savedState().devices().stream().anyMatch(d -> d.id().equals("dt2")));
        hotplug.attach(disk("dt4", IOThreadChoice.byPolicy()));
        assertEquals(POOL.get(2), iothreadOf("dt4"));
    }

    @Test
    void removingAnIOThreadInUseIsRefusedThoughQemuWouldAcceptIt() {
        pool.add("spare");
        hotplug.attach(disk("busy", IOThreadChoice.named("spare")));
        RequestRejectedException e = assertThrows(RequestRejectedException.class, () -> pool.remove("spare"));
        assertEquals(RequestRejectedException.Reason.IN_USE, e.reason());
        assertTrue(e.getMessage().contains("busy"), e.getMessage());
        assertTrue(queryIothreads().containsKey("spare"));
        assertEquals("spare", iothreadOf("busy"));
        hotplug.detach("busy");
        pool.remove("spare");
        assertFalse(queryIothreads().containsKey("spare"));
        assertEquals(POOL, savedState().ioThreads().stream().map(QemuState.IOThreadState::id).toList());
    }

    @Test
    void moveReplugsTheSameNodeOntoTheNewIOThread() {
        BlockDevice before = hotplug.attach(disk("mv", IOThreadChoice.named(POOL.get(0))));
        assertEquals(POOL.get(0), iothreadOf("mv"));
        BlockDevice after = hotplug.move("mv", IOThreadChoice.named(POOL.get(3)));
        assertEquals(POOL.get(3), iothreadOf("mv"));
        assertEquals(List.of(POOL.get(3)), after.ioThreads());
        assertEquals(before.address(), after.address(), "same root port");
        assertEquals(List.of(), pool.list().get(0).devices());
        assertEquals(List.of("mv"), pool.list().get(3).devices());
        assertEquals(List.of(POOL.get(3)), savedState().devices().get(0).ioThreads());
        String node = savedState().devices().get(0).nodeName();
        assertTrue(blockNodes().contains(node), "the same block node was kept");

        hotplug.move("mv", IOThreadChoice.mainLoop());
        assertEquals("", iothreadOf("mv"));
        assertTrue(hotplug.list().get(0).onMainLoop());
    }

    /**
     * vq-mapping follows the binary: QEMU 9.0 added {@code iothread-vq-mapping}, so on
     * Debian 13's QEMU 10 the queues are spread and QEMU's own {@code qom-get} shows
     * them; on Debian 12's QEMU 7.2 the attach is refused before QEMU is touched.
     */
    @Test
    void vqMappingSpreadsTheQueuesWhereQemuHasItAndIsRefusedWhereNotLeavingNothingBehind() {
        QemuVersion installed = qemu().version();
        boolean present = qemu().hasVqMapping();
        assertEquals(present, vm.supports(Capability.IOTHREAD_VQ_MAPPING), "the probe agrees with QEMU " + installed);
        Set<String> nodes = blockNodes();
        BlockDeviceSpec spec = BlockDeviceSpec.builder("vq", BlockBackend.nullBackend())
                .ioThread(IOThreadChoice.vqMapped(POOL.subList(2, 4))).queues(4).build();
        if (!present) {
            UnsupportedCapabilityException e = assertThrows(UnsupportedCapabilityException.class,
                    () -> hotplug.attach(spec));
            assertEquals(Capability.IOTHREAD_VQ_MAPPING, e.capability());
            assertTrue(e.getMessage().contains(installed.major() + "." + installed.minor()), e.getMessage());
        } else {
            BlockDevice d = hotplug.attach(spec);
            assertEquals(POOL.subList(2, 4), d.ioThreads());
            assertEquals(Map.of(POOL.get(2), List.of(0, 2), POOL.get(3), List.of(1, 3)), vqMapping("vq"),
                    "QEMU's view of the queues");
            for (String id : POOL.subList(2, 4)) {
                assertEquals(List.of("vq"), pool.list().get(POOL.indexOf(id)).devices(), id + " serves vq");
            }
            hotplug.detach("vq");
        }
        assertEquals(nodes, blockNodes());
        assertFalse(peripherals().contains("vq"));
    }

    /**
     * A device added with {@code iothread-vq-mapping} has an empty {@code iothread} link: a
     * reattach reads its mapping, so the record keeps its IOThreads, the pool counts it, and
     * the removal of one of them is still refused (QEMU would delete it from under the device).
     */
    @Test
    void aVqMappedDeviceKeepsItsIOThreadsAcrossAReattach() {
        assumeTrue(qemu().hasVqMapping(), "QEMU " + qemu().version() + " has no iothread-vq-mapping");
        pool.add("vqa");
        pool.add("vqb");
        try {
            hotplug.attach(BlockDeviceSpec.builder("vqre", BlockBackend.nullBackend())
                    .ioThread(IOThreadChoice.vqMapped(List.of("vqa", "vqb"))).queues(2).build());
            reattach();
            assertEquals(List.of("vqa", "vqb"), hotplug.list().get(0).ioThreads(), () -> "after the reattach: "
                    + vm.reconciliation());
            assertEquals(List.of("vqa", "vqb"), savedState().devices().get(0).ioThreads());
            RequestRejectedException e = assertThrows(RequestRejectedException.class, () -> pool.remove("vqa"));
            assertEquals(RequestRejectedException.Reason.IN_USE, e.reason());
            assertTrue(queryIothreads().containsKey("vqa"), "QEMU keeps the IOThread");
            assertEquals(Map.of("vqa", List.of(0), "vqb", List.of(1)), vqMapping("vqre"));
            QemuTruth.assertRecordEqualsQemu(vm, savedState(), "after the reattach");
        } finally {
            for (BlockDevice d : hotplug.list()) {
                hotplug.detach(d.id());
            }
            pool.remove("vqa");
            pool.remove("vqb");
        }
    }

    /** This process lets go of the VM and reattaches to it, as the next hvctl command would. */
    private void reattach() {
        vm.close();
        vm = QemuHypervisor.reattach(host.stateStore().load("iothreads").orElseThrow(), host);
        hotplug = vm.requireHotplug();
        pool = vm.requireIoThreads();
    }

    /** QEMU's own view of a device's queues: IOThread to virtqueues ({@code qom-get iothread-vq-mapping}). */
    private Map<String, List<Integer>> vqMapping(String deviceId) {
        Map<String, List<Integer>> mapping = new HashMap<>();
        for (JsonNode entry : vm.monitorCommand("qom-get", QmpClient.args()
                .put("path", "/machine/peripheral/" + deviceId).put("property", "iothread-vq-mapping"))) {
            List<Integer> vqs = new ArrayList<>();
            entry.path("vqs").forEach(q -> vqs.add(q.asInt()));
            mapping.put(entry.path("iothread").asText(), vqs);
        }
        return mapping;
    }

    /**
     * A move onto a vq-mapping replugs the same node with its queues spread (QEMU 9.0+), and
     * back onto one IOThread; where QEMU has no vq-mapping the move is refused and the device
     * stays where it was.
     */
    @Test
    void aMoveOntoAVqMappingSpreadsTheQueuesWhereQemuHasItAndIsRefusedWhereNot() {
        hotplug.attach(BlockDeviceSpec.builder("vqmv", BlockBackend.nullBackend())
                .ioThread(IOThreadChoice.named(POOL.get(0))).queues(4).build());
        IOThreadChoice spread = IOThreadChoice.vqMapped(POOL.subList(2, 4));
        if (!qemu().hasVqMapping()) {
            UnsupportedCapabilityException e = assertThrows(UnsupportedCapabilityException.class,
                    () -> hotplug.move("vqmv", spread));
            assertEquals(Capability.IOTHREAD_VQ_MAPPING, e.capability());
            assertEquals(POOL.get(0), iothreadOf("vqmv"), "the device stays on its IOThread");
            assertEquals(List.of(POOL.get(0)), hotplug.list().get(0).ioThreads());
            return;
        }
        String node = savedState().devices().get(0).nodeName();
        BlockDevice spreadOut = hotplug.move("vqmv", spread);
        assertEquals(POOL.subList(2, 4), spreadOut.ioThreads());
        assertEquals(Map.of(POOL.get(2), List.of(0, 2), POOL.get(3), List.of(1, 3)), vqMapping("vqmv"));
        assertEquals(List.of(), pool.list().get(0).devices());
        assertEquals(node, savedState().devices().get(0).nodeName(), "the same block node was kept");

        BlockDevice back = hotplug.move("vqmv", IOThreadChoice.named(POOL.get(1)));
        assertEquals(List.of(POOL.get(1)), back.ioThreads());
        assertEquals(POOL.get(1), iothreadOf("vqmv"));
        assertEquals(Map.of(), vqMapping("vqmv"), "no mapping left on the replugged device");
        assertEquals(List.of(), pool.list().get(2).devices());
    }

    @Test
    void aFailedDeviceAddRollsBackTheNodeAndTheReservation() {
        // delete an IOThread behind hvspi's back, so that QEMU refuses the device_add
        vm.monitorCommand("object-del", QmpClient.args().put("id", POOL.get(1)));
        try {
            Set<String> nodes = blockNodes();
            VmmException e = assertThrows(VmmException.class,
                    () -> hotplug.attach(disk("bad", IOThreadChoice.named(POOL.get(1)))));
            assertEquals("device_add", e.command());
            assertEquals(nodes, blockNodes(), "blockdev-del removed the node");
            assertEquals(0, pool.list().stream().mapToInt(IOThreadInfo::load).sum());
            assertTrue(hotplug.list().isEmpty());
            assertTrue(savedState().devices().isEmpty());
            // the root port is free again: 8 more disks fit
            for (int i = 0; i < 8; i++) {
                hotplug.attach(disk("ok" + i, IOThreadChoice.named(POOL.get(0))));
            }
            RequestRejectedException full = assertThrows(RequestRejectedException.class,
                    () -> hotplug.attach(disk("ninth", IOThreadChoice.byPolicy())));
            assertEquals(RequestRejectedException.Reason.EXHAUSTED, full.reason());
        } finally {
            vm.monitorCommand("object-add", QmpClient.args().put("qom-type", "iothread").put("id", POOL.get(1)));
        }
    }

    @Test
    void aNodeQemuRefusesFailsTheAttachWithQemusErrorAndLeavesNothing() throws IOException {
        Path notQcow2 = Files.write(tmp.resolve("plain.img"), new byte[65536]);
        Set<String> nodes = blockNodes();
        VmmException e = assertThrows(VmmException.class, () -> hotplug.attach(
                BlockDeviceSpec.builder("q0", BlockBackend.path(notQcow2)).format("qcow2").build()));
        assertEquals("blockdev-add", e.command(), "the node's error, not the device_add's behind it");
        assertTrue(e.vmmMessage().contains("qcow2"), e.vmmMessage());
        assertEquals(nodes, blockNodes());
        assertFalse(peripherals().contains("q0"));
        assertEquals(0, pool.list().stream().mapToInt(IOThreadInfo::load).sum());
    }

    @Test
    void pollingParametersReachQemu() {
        pool.setPolling(POOL.get(1), new PollingParams(1000, 2, 3));
        JsonNode live = null;
        for (JsonNode t : vm.monitorCommand("query-iothreads", null)) {
            if (t.path("id").asText().equals(POOL.get(1))) {
                live = t;
            }
        }
        assertEquals(1000, live.path("poll-max-ns").asLong());
        assertEquals(2, live.path("poll-grow").asLong());
        assertEquals(3, live.path("poll-shrink").asLong());
        assertEquals(new PollingParams(1000, 2, 3), pool.list().get(1).polling().orElseThrow());
        pool.setPolling(POOL.get(1), new PollingParams(32768, 0, 0));
    }

    @Test
    void aFileBackendIsOpenedReadOnlyWithDirectIo() throws IOException {
        Path image = Files.createFile(tmp.resolve("disk.img"));
        Files.write(image, new byte[1 << 20]);
        hotplug.attach(BlockDeviceSpec.builder("file0", BlockBackend.path(image)).readOnly(true).direct(true)
                .queues(1).build());
        JsonNode node = null;
        String nodeName = savedState().devices().get(0).nodeName();
        for (JsonNode n : vm.monitorCommand("query-named-block-nodes", QmpClient.args().put("flat", true))) {
            if (n.path("node-name").asText().equals(nodeName)) {
                node = n;
            }
        }
        assertTrue(node.path("ro").asBoolean());
        assertTrue(node.path("cache").path("direct").asBoolean());
        assertEquals("raw", node.path("drv").asText());
        assertEquals(1, vm.monitorCommand("qom-get", QmpClient.args().put("path", "/machine/peripheral/file0")
                .put("property", "num-queues")).asInt());
    }

    @Test
    void aWritableFileBackendGetsQemusDefaultsThatHvspiLeavesOut() throws IOException {
        Path image = Files.createFile(tmp.resolve("disk-rw.img"));
        Files.write(image, new byte[1 << 20]);
        // blockdev-add carries no read-only, cache.direct or cache.no-flush when they are false: QEMU's defaults
        hotplug.attach(BlockDeviceSpec.builder("file1", BlockBackend.path(image)).queues(1).build());
        String nodeName = savedState().devices().stream().filter(d -> d.id().equals("file1")).findFirst()
                .orElseThrow().nodeName();
        JsonNode node = null;
        for (JsonNode n : vm.monitorCommand("query-named-block-nodes", QmpClient.args().put("flat", true))) {
            if (n.path("node-name").asText().equals(nodeName)) {
                node = n;
            }
        }
        assertFalse(node.path("ro").asBoolean(true));
        assertFalse(node.path("cache").path("direct").asBoolean(true));
        assertFalse(node.path("cache").path("no-flush").asBoolean(true));
        assertTrue(node.path("cache").path("writeback").asBoolean(false));
        hotplug.detach("file1");
    }

    @Test
    void runtimeFilesArePrivate() throws IOException {
        VmRecord record = host.stateStore().load("iothreads").orElseThrow();
        Path dir = record.runtimeDir();
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("qmp.sock"))));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("qemu.log"))));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(
                dir.resolve("console.sock"))), "the guest's console socket");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(
                dir.resolve("events.sock"))), "the followers' QMP socket");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(
                dir.resolve("events.jsonl"))), "hvspi's event journal");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(
                dir.resolve("intents.log"))), "the plugin's intent log");
        assertTrue(Files.exists(dir.resolve("console.log")), "the console is logged whether or not anyone listens");
        assertEquals(VmState.PAUSED, vm.state(), "no guest: QEMU stays paused");
        assertNotEquals(0, record.pid());
    }

    @Test
    void invalidIdsAndDuplicatesAreRefusedBeforeQemuSeesThem() {
        assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT, assertThrows(RequestRejectedException.class,
                () -> hotplug.attach(disk("0bad,id=x", IOThreadChoice.byPolicy()))).reason());
        assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT, assertThrows(RequestRejectedException.class,
                () -> pool.add("io,x")).reason());
        assertEquals(RequestRejectedException.Reason.DUPLICATE_ID, assertThrows(RequestRejectedException.class,
                () -> hotplug.attach(disk("rp0", IOThreadChoice.byPolicy()))).reason());
        assertEquals(RequestRejectedException.Reason.DUPLICATE_ID, assertThrows(RequestRejectedException.class,
                () -> pool.add(POOL.get(0))).reason());
        hotplug.attach(disk("twice", IOThreadChoice.byPolicy()));
        assertEquals(RequestRejectedException.Reason.DUPLICATE_ID, assertThrows(RequestRejectedException.class,
                () -> hotplug.attach(disk("twice", IOThreadChoice.byPolicy()))).reason());
        assertEquals(RequestRejectedException.Reason.NOT_FOUND, assertThrows(RequestRejectedException.class,
                () -> hotplug.attach(disk("named", IOThreadChoice.named("nope")))).reason());
        assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT, assertThrows(RequestRejectedException.class,
                () -> hotplug.attach(BlockDeviceSpec.builder("many", BlockBackend.nullBackend()).queues(1025)
                        .build())).reason(), "QEMU 7.2 aborts on more than 1024 queues");
        assertEquals(Set.of("twice"), Set.copyOf(hotplug.list().stream().map(BlockDevice::id).toList()));
    }
}
