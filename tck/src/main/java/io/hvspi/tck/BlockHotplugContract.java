package io.hvspi.tck;

import static io.hvspi.spi.Capability.BLOCK_DEVICE;
import static io.hvspi.spi.Capability.BLOCK_DEVICE_DISCARD;
import static io.hvspi.spi.Capability.BLOCK_DEVICE_HOTPLUG;
import static io.hvspi.spi.Capability.MULTI_QUEUE;
import static io.hvspi.spi.Capability.PER_QUEUE_IO_THREADS;
import static io.hvspi.spi.Capability.QUEUE_AFFINITY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmException;
import io.hvspi.tck.backend.VmmView;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntFunction;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/** Attaching, listing and detaching block devices on a running VM, and what goes wrong. */
@Contract(value = "hotplug", title = "Block hotplug")
public abstract class BlockHotplugContract extends ContractBase {

    protected BlockHotplugContract(TckKit kit) {
        super(kit);
    }

    /** Threads that attach at once in the concurrency tests. */
    private static final int RACERS = 3;

    /** A path no VMM can open. */
    static final Path MISSING = Path.of("/nonexistent-hvspi-tck/missing.img");

    @Test
    @Order(1)
    @Exercises(BLOCK_DEVICE_HOTPLUG)
    @DisplayName("attach, list and detach")
    void attachListAndDetach() {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, BLOCK_DEVICE_HOTPLUG, vm::requireHotplug)) {
            return;
        }
        DeviceHotplug hp = hotplug(vm);
        var specA = disk(vm, "tck-a").build();
        BlockDevice a = hp.attach(specA);
        assertEquals("tck-a", a.id());
        assertEquals(specA.backend(), a.backend());
        assertFalse(a.driver().isBlank(), "an attached device names its driver");
        hp.attach(disk(vm, "tck-b").build());
        assertEquals(List.of("tck-a", "tck-b"), deviceIds(vm), "list() is in attach order");
        hp.detach("tck-a");
        assertEquals(List.of("tck-b"), deviceIds(vm));
        hp.detach("tck-b");
        assertEquals(List.of(), deviceIds(vm));
    }

    @Test
    @Order(2)
    @Exercises(BLOCK_DEVICE_HOTPLUG)
    @DisplayName("attach on a paused VM works, or is refused cleanly; the VM stays paused")
    void attachWhilePaused() {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, BLOCK_DEVICE_HOTPLUG, vm::requireHotplug)) {
            return;
        }
        vm.pause();
        try {
            hotplug(vm).attach(disk(vm, "tck-p").build());
            assertEquals(List.of("tck-p"), deviceIds(vm));
        } catch (VmmException | RequestRejectedException e) {
            // QEMU hotplugs into a paused VM; Dragonball needs the guest's upcall server,
            // which does not answer while the vCPUs are stopped: a typed refusal is fine
            assertOneLine(e);
            assertTrue(!(e instanceof RequestRejectedException r) || r.reason() == Reason.INVALID_STATE,
                    () -> "a refusal on a paused VM must be INVALID_STATE: " + e.getMessage());
            assertEquals(List.of(), deviceIds(vm), "a refused attach must leave no device");
            kit.note("hvspi.refused", e.getMessage());
        }
        assertEquals(VmState.PAUSED, vm.state(), "hotplug must not resume a paused VM");
    }

    @Test
    @Order(3)
    @Exercises(BLOCK_DEVICE_HOTPLUG)
    @DisplayName("a read-only attach is reported read-only")
    void readOnlyIsHonoured() {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, BLOCK_DEVICE_HOTPLUG, vm::requireHotplug)) {
            return;
        }
        BlockDevice d = hotplug(vm).attach(disk(vm, "tck-ro").readOnly(true).build());
        assertTrue(d.readOnly());
        assertTrue(hotplug(vm).list().get(0).readOnly(), "list() keeps the read-only flag");
    }

    @Test
    @Order(4)
    @Exercises(BLOCK_DEVICE_HOTPLUG)
    @DisplayName("a bad path fails, leaves nothing behind, and the id stays free")
    void badPathFailsAndLeavesNothing() {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, BLOCK_DEVICE_HOTPLUG, vm::requireHotplug)) {
            return;
        }
        Map<String, Integer> loads = loads(vm);
        HvspiException e = assertThrows(HvspiException.class,
                () -> hotplug(vm).attach(BlockDeviceSpec.builder("tck-bad", BlockBackend.path(MISSING)).build()),
                "attaching " + MISSING + " must fail");
        assertTrue(e instanceof VmmException || e instanceof RequestRejectedException,
                () -> "a bad path must give VmmException (the VMM's refusal) or RequestRejectedException, got " + e);
        assertOneLine(e);
        assertEquals(List.of(), deviceIds(vm), "a failed attach must leave no device");
        assertEquals(loads, loads(vm), "a failed attach must leave no IOThread reserved");
        hotplug(vm).attach(disk(vm, "tck-bad").build());
        assertEquals(List.of("tck-bad"), deviceIds(vm), "the id of a failed attach must be free again");
    }

    @Test
    @Order(5)
    @Exercises(BLOCK_DEVICE_HOTPLUG)
    @DisplayName("a duplicate id is refused and the first device is untouched")
    void duplicateIdIsRejected() {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, BLOCK_DEVICE_HOTPLUG, vm::requireHotplug)) {
            return;
        }
        BlockDevice first = hotplug(vm).attach(disk(vm, "tck-dup").build());
        assertRejected(Reason.DUPLICATE_ID, () -> hotplug(vm).attach(disk(vm, "tck-dup", "tck-dup2").build()),
                "a second device with id 'tck-dup'");
        assertEquals(List.of(first), hotplug(vm).list());
    }

    @Test
    @Order(6)
    @Exercises(BLOCK_DEVICE_HOTPLUG)
    @DisplayName("detaching an unknown device is refused")
    void detachOfAnUnknownDeviceIsRejected() {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, BLOCK_DEVICE_HOTPLUG, vm::requireHotplug)) {
            return;
        }
        assertRejected(Reason.NOT_FOUND, () -> hotplug(vm).detach("tck-nothing"), "detaching 'tck-nothing'");
    }

    @Test
    @Order(7)
    @Exercises(BLOCK_DEVICE_HOTPLUG)
    @DisplayName("an id outside the VMM's id grammar is refused")
    void invalidIdIsRejected() {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, BLOCK_DEVICE_HOTPLUG, vm::requireHotplug)) {
            return;
        }
        assertRejected(Reason.INVALID_ARGUMENT, () -> hotplug(vm).attach(disk(vm, "bad,id=1", "tck-x").build()),
                "device id 'bad,id=1'");
        assertEquals(List.of(), deviceIds(vm));
    }

    @Test
    @Order(8)
    @Exercises(MULTI_QUEUE)
    @DisplayName("a device gets the queues it asks for")
    void attachWithSeveralQueues() {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, MULTI_QUEUE, () -> hotplug(vm).attach(disk(vm, "tck-mq").queues(2).build()))) {
            return;
        }
        BlockDevice d = hotplug(vm).attach(disk(vm, "tck-mq").queues(2).build());
        assertEquals(2, d.queues());
        assertEquals(2, hotplug(vm).list().get(0).queues());
    }

    @Test
    @Order(9)
    @Exercises(QUEUE_AFFINITY)
    @DisplayName("queue affinity is applied at attach")
    void attachWithQueueAffinity() {
        Hypervisor vm = kit.startVm();
        Map<Integer, List<Integer>> affinity = Map.of(0, List.of(0));
        if (!kit.supports(vm, QUEUE_AFFINITY,
                () -> hotplug(vm).attach(disk(vm, "tck-aff").queues(1).queueAffinity(affinity).build()))) {
            return;
        }
        hotplug(vm).attach(disk(vm, "tck-aff").queues(1).queueAffinity(affinity).build());
        assertEquals(List.of("tck-aff"), deviceIds(vm));
        if (vm.supports(PER_QUEUE_IO_THREADS) && kit.backend().realHostThreads()) {
            HostThreads threads = vm.hostThreads();
            HostThreads.HostThread worker = workers(threads, "tck-aff").get(0);
            assertEquals("0", HostProc.cpusAllowed(threads.pid(), worker.tid()).orElseThrow(),
                    "queue 0's worker must be pinned to host CPU 0");
        }
    }

    @Test
    @Order(10)
    @Exercises(PER_QUEUE_IO_THREADS)
    @DisplayName("per-queue IO workers are listed with real ids, and go with their device")
    void perQueueWorkersAreListed() {
        Hypervisor vm = kit.startVm();
        if (!vm.supports(PER_QUEUE_IO_THREADS)) {
            // nothing to call that could fail: a VMM without them must simply not list any
            if (vm.supports(BLOCK_DEVICE_HOTPLUG)) {
                hotplug(vm).attach(disk(vm, "tck-w").build());
            }
            List<HostThreads.HostThread> listed = vm.hostThreads().withRole(HostThreads.Role.QUEUE_WORKER);
            assertTrue(listed.isEmpty(), () -> "no per-queue IO threads declared, yet listed: " + listed);
            kit.note(TckKit.PATH_ENTRY, "unsupported:" + PER_QUEUE_IO_THREADS.key());
            return;
        }
        kit.note(TckKit.PATH_ENTRY, "supported");
        int queues = vm.supports(MULTI_QUEUE) ? 2 : 1;
        hotplug(vm).attach(disk(vm, "tck-w").queues(queues).build());
        HostThreads threads = vm.hostThreads();
        List<HostThreads.HostThread> workers = workers(threads, "tck-w");
        assertEquals(queues, workers.size(), () -> "one worker per queue for 'tck-w', got " + workers);
        for (HostThreads.HostThread w : workers) {
            assertRealName(threads.pid(), w);
        }
        hotplug(vm).detach("tck-w");
        assertTrue(workers(vm.hostThreads(), "tck-w").isEmpty(), "a detached device's workers must not be listed");
        for (HostThreads.HostThread w : workers) {
            assertThreadGone(threads.pid(), w.tid(), "worker '" + w.name() + "' of a detached device");
        }
    }

    @Test
    @Order(11)
    @Exercises(BLOCK_DEVICE)
    @DisplayName("a block device is attached on the backend it names, read-write")
    void blockDeviceIsAttached() {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, BLOCK_DEVICE, vm::requireHotplug)) {
            return;
        }
        // the SPI attaches block devices only through hotplug (cold plug has no operation yet)
        assumeTrue(vm.supports(BLOCK_DEVICE_HOTPLUG),
                "block devices without block-device-hotplug: the SPI has no cold-plug operation to check them");
        BlockDeviceSpec spec = disk(vm, "tck-blk").build();
        BlockDevice d = hotplug(vm).attach(spec);
        assertEquals(spec.backend(), d.backend(), "the device must be on the backend it was given");
        assertFalse(d.readOnly(), "a device attached read-write must not be reported read-only");
        assertTrue(d.queues() >= 1, () -> "a block device has at least one queue, got " + d.queues());
        assertEquals(List.of(d), hotplug(vm).list(), "list() reports the device as attach did");
    }

    /** Bytes the discard test fills and then discards half of. */
    static final int DISCARD_FILL = 1 << 20;

    @Test
    @Order(12)
    @Exercises(BLOCK_DEVICE_DISCARD)
    @DisplayName("a discard through the VMM frees the backend's blocks")
    void discardReachesTheBackend() {
        Hypervisor vm = kit.startVm();
        if (!vm.supports(BLOCK_DEVICE_DISCARD)) {
            // discard is automatic: there is no operation that could fail with the unsupported error
            kit.note(TckKit.PATH_ENTRY, "unsupported:" + BLOCK_DEVICE_DISCARD.key());
            return;
        }
        kit.note(TckKit.PATH_ENTRY, "supported");
        VmmView view = kit.backend().vmmView().orElse(null);
        assumeTrue(view != null, () -> "the " + kit.type() + " backend has no view into the VMM (vmmView()), "
                + "so discard cannot be observed");
        BlockDeviceSpec spec = disk(vm, "tck-trim").build();
        fill(spec.backend(), DISCARD_FILL);
        hotplug(vm).attach(spec);
        long before = view.allocatedBytes(vm, "tck-trim");
        assertTrue(before >= DISCARD_FILL, () -> "the filled disk must be allocated before the discard, the VMM "
                + "reports " + before + " bytes");
        view.discard(vm, "tck-trim", 0, DISCARD_FILL / 2);
        long after = view.allocatedBytes(vm, "tck-trim");
        assertTrue(after <= before - DISCARD_FILL / 2, () -> "a discard of " + DISCARD_FILL / 2 + " bytes must "
                + "free them in the backend (discard passed through): allocated " + before + " then " + after);
    }

    @Test
    @Order(13)
    @Exercises(BLOCK_DEVICE_HOTPLUG)
    @DisplayName("attaches from several threads at once: each disk attached once, a shared id only once")
    void attachesFromSeveralThreadsAtOnce() throws InterruptedException {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, BLOCK_DEVICE_HOTPLUG, vm::requireHotplug)) {
            return;
        }
        ExecutorService threads = Executors.newFixedThreadPool(RACERS);
        try {
            List<Future<BlockDevice>> own = atOnce(threads, t -> disk(vm, "tck-c" + t).build(), vm);
            for (int t = 0; t < RACERS; t++) {
                assertEquals(Optional.empty(), failureOf(own.get(t), "the attach of disk 'tck-c" + t + "'"),
                        "disks with distinct ids attached at once must all be attached");
            }
            List<Future<BlockDevice>> shared = atOnce(threads, t -> disk(vm, "tck-cs", "tck-cs" + t).build(), vm);
            List<BlockDevice> winners = new ArrayList<>();
            for (int t = 0; t < RACERS; t++) {
                if (attachedOrDuplicate(shared.get(t), "attach " + t + " of id 'tck-cs'")) {
                    winners.add(shared.get(t).resultNow());
                }
            }
            assertEquals(1, winners.size(), () -> RACERS + " attaches of id 'tck-cs' at once: exactly one must "
                    + "attach, the others get DUPLICATE_ID; attached: " + winners);
            assertEquals(Set.of("tck-c0", "tck-c1", "tck-c2", "tck-cs"), Set.copyOf(deviceIds(vm)));
            assertTrue(hotplug(vm).list().contains(winners.get(0)), "list() shows 'tck-cs' as its winning attach did");
        } finally {
            threads.shutdownNow();
        }
    }

    @Test
    @Order(14)
    @Exercises(BLOCK_DEVICE_HOTPLUG)
    @DisplayName("stop while attaches run: every call returns, nothing of the VM is left")
    void stopWhileAttachesRun() throws InterruptedException {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, BLOCK_DEVICE_HOTPLUG, vm::requireHotplug)) {
            return;
        }
        assertStopCutsAttachesShort(vm, "tck-s", id -> hotplug(vm).attach(disk(vm, id).build()));
    }

    /** Runs one attach per racer, all released together; the specs are made before the release. */
    private static List<Future<BlockDevice>> atOnce(ExecutorService threads, IntFunction<BlockDeviceSpec> spec,
                                                    Hypervisor vm) {
        CyclicBarrier together = new CyclicBarrier(RACERS);
        List<Future<BlockDevice>> attaches = new ArrayList<>();
        for (int t = 0; t < RACERS; t++) {
            BlockDeviceSpec s = spec.apply(t);
            attaches.add(threads.submit(() -> {
                together.await();
                return vm.requireHotplug().attach(s);
            }));
        }
        return attaches;
    }

    /** Writes {@code bytes} of non-zero data at the start of a file backend, so that it is allocated. */
    private static void fill(BlockBackend backend, int bytes) {
        if (!(backend instanceof BlockBackend.HostPath p)) {
            throw new AssertionError("the discard test needs a file disk, the backend gave " + backend);
        }
        byte[] data = new byte[bytes];
        Arrays.fill(data, (byte) 0x5a);
        try {
            Files.write(p.path(), data, java.nio.file.StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot fill " + p.path() + ": " + e.getMessage(), e);
        }
    }

    private static List<HostThreads.HostThread> workers(HostThreads threads, String deviceId) {
        return threads.withRole(HostThreads.Role.QUEUE_WORKER).stream()
                .filter(t -> t.owner().filter(deviceId::equals).isPresent()).toList();
    }

    private static Map<String, Integer> loads(Hypervisor vm) {
        if (vm.ioThreads().isEmpty()) {
            return Map.of();
        }
        Map<String, Integer> loads = new LinkedHashMap<>();
        for (IOThreadInfo t : vm.ioThreads().get().list()) {
            loads.put(t.id(), t.load());
        }
        return loads;
    }
}
