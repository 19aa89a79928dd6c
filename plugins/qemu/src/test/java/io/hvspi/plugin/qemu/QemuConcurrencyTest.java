package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.state.DeviceState;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.VmmException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sixteen threads attach and detach on one real QEMU 7.2 VM (TCG, no guest, so
 * every detach ends with a {@code system_reset} that completes every unplug
 * pending at that moment, the other threads' included). Thirteen threads place by
 * policy (least-loaded), two name an IOThread, one asks for the main loop, and
 * each reuses its device id every round. At checkpoints (every thread attached,
 * none detached) and at the end, what QEMU reports ({@code qom-list},
 * {@code qom-get} of each device's {@code iothread} and {@code parent_bus}, {@code query-iothreads},
 * {@code query-named-block-nodes}) must equal hvspi's list, pool and state file.
 */
class QemuConcurrencyTest {
    private static final Logger LOG = LoggerFactory.getLogger(QemuConcurrencyTest.class);
    private static final int THREADS = 16;
    private static final int ROUNDS = 25;
    private static final Set<Integer> CHECKPOINTS = Set.of(8, 16);
    private static final List<String> POOL = List.of("indep_iothread_0", "indep_iothread_1", "indep_iothread_2",
            "indep_iothread_3");

    @TempDir
    Path tmp;

    private DefaultHostContext host;
    private QemuHypervisor vm;

    /** What thread {@code t} asks for in round {@code r}. */
    private static IOThreadChoice choice(int t, int r) {
        return switch (t) {
            case 12, 13 -> IOThreadChoice.named(POOL.get((t + r) % POOL.size()));
            case 14 -> IOThreadChoice.mainLoop();
            default -> IOThreadChoice.byPolicy();
        };
    }

    /** The IOThreads a choice allows. */
    private static Set<String> allowed(IOThreadChoice choice) {
        return switch (choice) {
            case IOThreadChoice.Named n -> Set.of(n.id());
            case IOThreadChoice.MainLoop m -> Set.of("");
            default -> Set.copyOf(POOL);
        };
    }

    @Test
    void sixteenThreadsAttachingAndDetachingKeepHvspiAndQemuInAgreement() throws Exception {
        host = TestVms.host(tmp);
        // exactly one root port per thread: a leaked or doubly booked port shows as EXHAUSTED or a QEMU error
        vm = (QemuHypervisor) new QemuHypervisorFactory().create(
                TestVms.spec("busy", POOL.size(), IOThreadPolicy.LEAST_LOADED, "virtio-blk-pci", THREADS), host);
        vm.start();
        DeviceHotplug hotplug = vm.requireHotplug();
        Map<String, IOThreadChoice> asked = new ConcurrentHashMap<>();
        AtomicInteger checkpoint = new AtomicInteger();
        CyclicBarrier barrier = new CyclicBarrier(THREADS,
                () -> checkAgreement("checkpoint " + checkpoint.incrementAndGet(), THREADS, asked));
        ExecutorService threads = Executors.newFixedThreadPool(THREADS);
        List<Long> attachNanos = Collections.synchronizedList(new ArrayList<>());
        List<Long> detachNanos = Collections.synchronizedList(new ArrayList<>());
        long t0 = System.nanoTime();
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int thread = t;
                done.add(threads.submit(() -> {
                    String id = "c" + thread;
                    for (int r = 0; r < ROUNDS; r++) {
                        IOThreadChoice choice = choice(thread, r);
                        asked.put(id, choice);
                        long a0 = System.nanoTime();
                        BlockDevice d = hotplug.attach(BlockDeviceSpec.builder(id, BlockBackend.nullBackend())
                                .ioThread(choice).build());
                        attachNanos.add(System.nanoTime() - a0);
                        String on = d.ioThreads().isEmpty() ? "" : d.ioThreads().get(0);
                        assertTrue(allowed(choice).contains(on), id + " asked for " + choice + ", got " + on);
                        if (CHECKPOINTS.contains(r)) {
                            barrier.await(60, TimeUnit.SECONDS);
                        }
                        long d0 = System.nanoTime();
                        hotplug.detach(id);
                        detachNanos.add(System.nanoTime() - d0);
                    }
                    return null;
                }));
            }
            awaitAll(done);
            long wall = System.nanoTime() - t0;
            LOG.info("concurrency: {} threads x {} attach/detach rounds ({} attaches, {} detaches with system_reset)"
                            + " on one VM in {} ms wall, {} checkpoints checked against QEMU",
                    THREADS, ROUNDS, THREADS * ROUNDS, THREADS * ROUNDS, TimeUnit.NANOSECONDS.toMillis(wall),
                    checkpoint.get());
            LOG.info("concurrency: attach {}, detach {}", percentiles(attachNanos), percentiles(detachNanos));
            assertEquals(CHECKPOINTS.size(), checkpoint.get());
            checkAgreement("the end", 0, asked);
        } finally {
            threads.shutdownNow();
            vm.stop();
        }
    }

    /**
     * Replies are matched to commands by order (no ids): with QEMU's errors between its answers, from many
     * threads at once, every caller still gets its own. An error names the path that caller asked for, and
     * query-status answers with an object of its own shape, so a reply given to the wrong caller shows.
     */
    @Test
    void manyThreadsWithErrorsBetweenRepliesEachGetTheirOwnFromQemu() throws Exception {
        host = TestVms.host(tmp);
        vm = (QemuHypervisor) new QemuHypervisorFactory().create(
                TestVms.spec("replies", POOL.size(), IOThreadPolicy.LEAST_LOADED, "virtio-blk-pci", 1), host);
        vm.start();
        ExecutorService threads = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int thread = t;
                done.add(threads.submit(() -> {
                    for (int i = 0; i < 60; i++) {
                        String missing = "/machine/peripheral/missing-" + thread + "-" + i;
                        VmmException e = assertThrows(VmmException.class, () -> vm.monitorCommand("qom-get",
                                QmpClient.args().put("path", missing).put("property", "type")));
                        assertTrue(e.getMessage().contains("'" + missing + "'"), missing + ": " + e.getMessage());
                        JsonNode status = vm.monitorCommand("query-status", null);
                        assertTrue(status.path("status").isTextual() && status.has("running"), "query-status: " + status);
                    }
                    return null;
                }));
            }
            awaitAll(done);
        } finally {
            threads.shutdownNow();
            vm.stop();
        }
    }

    private static String percentiles(List<Long> nanos) {
        List<Long> sorted = new ArrayList<>(nanos);
        Collections.sort(sorted);
        return String.format("p50 %.1f ms, p99 %.1f ms, max %.1f ms", sorted.get(sorted.size() / 2) / 1e6,
                sorted.get(sorted.size() * 99 / 100) / 1e6, sorted.get(sorted.size() - 1) / 1e6);
    }

    /** Waits for every thread; reports the first real failure, not the broken barrier it causes in the others. */
    private static void awaitAll(List<Future<?>> done) throws Exception {
        List<Throwable> failures = new ArrayList<>();
        for (Future<?> f : done) {
            try {
                f.get(5, TimeUnit.MINUTES);
            } catch (ExecutionException e) {
                failures.add(e.getCause());
            }
        }
        failures.sort(Comparator.comparing(t -> t instanceof BrokenBarrierException));
        if (!failures.isEmpty()) {
            AssertionError error = new AssertionError(failures.size() + " of " + done.size() + " threads failed: "
                    + failures.get(0), failures.get(0));
            failures.subList(1, failures.size()).forEach(error::addSuppressed);
            throw error;
        }
    }

    /** QEMU's devices, root ports, IOThreads and nodes against hvspi's list, pool, accounting and state file. */
    private void checkAgreement(String when, int expectedDevices, Map<String, IOThreadChoice> asked) {
        DeviceHotplug hotplug = vm.requireHotplug();
        IOThreadProvider pool = vm.requireIoThreads();
        List<BlockDevice> ours = hotplug.list();
        assertEquals(expectedDevices, ours.size(), when + ": devices " + ours);

        // devices and their IOThreads, as QEMU has them
        Map<String, String> qemuThreadOf = new TreeMap<>();
        for (JsonNode child : vm.monitorCommand("qom-list", QmpClient.args().put("path", "/machine/peripheral"))) {
            if (child.path("type").asText().equals("child<virtio-blk-pci>")) {
                String id = child.path("name").asText();
                String path = vm.monitorCommand("qom-get", QmpClient.args().put("path", "/machine/peripheral/" + id)
                        .put("property", "iothread")).asText();
                qemuThreadOf.put(id, path.substring(path.lastIndexOf('/') + 1));
            }
        }
        Map<String, String> ourThreadOf = new TreeMap<>();
        ours.forEach(d -> ourThreadOf.put(d.id(), d.ioThreads().isEmpty() ? "" : d.ioThreads().get(0)));
        assertEquals(qemuThreadOf, ourThreadOf, when + ": devices and IOThreads, QEMU vs hvspi");
        ourThreadOf.forEach((id, thread) -> assertTrue(allowed(asked.get(id)).contains(thread),
                when + ": " + id + " asked for " + asked.get(id) + ", is on '" + thread + "'"));

        // root ports: where QEMU plugged each device (its parent bus; query-pci lists nothing behind a bridge
        // that no guest has enumerated), one device each, where hvspi says
        Map<String, String> qemuPortOf = new TreeMap<>();
        for (String id : qemuThreadOf.keySet()) {
            String bus = vm.monitorCommand("qom-get", QmpClient.args().put("path", "/machine/peripheral/" + id)
                    .put("property", "parent_bus")).asText();
            qemuPortOf.put(id, bus.split("/")[3]); // /machine/peripheral/<port>/<bus>
        }
        Map<String, String> ourPortOf = new TreeMap<>();
        ours.forEach(d -> ourPortOf.put(d.id(), d.address().orElseThrow().split(":")[0]));
        assertEquals(qemuPortOf, ourPortOf, when + ": root ports, QEMU vs hvspi");
        assertEquals(ourPortOf.size(), new TreeSet<>(ourPortOf.values()).size(), when + ": a root port used twice");

        // the pool: QEMU's IOThreads, and hvspi's per-IOThread device lists against QEMU's placement
        Set<String> qemuThreads = new TreeSet<>();
        vm.monitorCommand("query-iothreads", null).forEach(t -> qemuThreads.add(t.path("id").asText()));
        List<IOThreadInfo> listed = pool.list();
        assertEquals(qemuThreads, new TreeSet<>(listed.stream().map(IOThreadInfo::id).toList()), when + ": IOThreads");
        for (IOThreadInfo info : listed) {
            Set<String> onIt = new TreeSet<>();
            qemuThreadOf.forEach((id, thread) -> {
                if (thread.equals(info.id())) {
                    onIt.add(id);
                }
            });
            assertEquals(onIt, new TreeSet<>(info.devices()), when + ": devices on " + info.id());
            assertTrue(info.hostThreadId().isPresent());
        }
        assertEquals(qemuThreadOf.values().stream().filter(t -> !t.isEmpty()).count(),
                listed.stream().mapToInt(IOThreadInfo::load).sum(),
                when + ": loads add up to the devices on IOThreads");

        // block nodes and the state file
        QemuState saved = TestVms.durable(host.stateStore().load("busy").orElseThrow());
        Set<String> qemuNodes = new TreeSet<>();
        for (JsonNode n : vm.monitorCommand("query-named-block-nodes", QmpClient.args().put("flat", true))) {
            if (n.path("node-name").asText().startsWith("hvspi-node")) {
                qemuNodes.add(n.path("node-name").asText());
            }
        }
        assertEquals(qemuNodes, new TreeSet<>(saved.devices().stream().map(DeviceState::nodeName).toList()),
                when + ": block nodes, QEMU vs state file");
        assertEquals(ours.stream().map(BlockDevice::id).toList(), saved.devices().stream().map(DeviceState::id)
                .toList(), when + ": state file devices");
        QemuHypervisor.Accounting books = vm.accounting();
        assertEquals(Map.of(), books.reservations(), when + ": reservations left");
        assertEquals(List.of(), books.inFlight(), when + ": root ports reserved");
    }
}
