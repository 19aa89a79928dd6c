package io.hvspi.tck;

import static io.hvspi.spi.Capability.BLOCK_DEVICE_HOTPLUG;
import static io.hvspi.spi.Capability.INDEPENDENT_IOTHREADS;
import static io.hvspi.spi.Capability.IOTHREAD_MOVE;
import static io.hvspi.spi.Capability.IOTHREAD_PINNING;
import static io.hvspi.spi.Capability.IOTHREAD_POLLING;
import static io.hvspi.spi.Capability.IOTHREAD_RUNTIME_ADD;
import static io.hvspi.spi.Capability.IOTHREAD_VQ_MAPPING;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.CpuSet;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.PollingParams;
import io.hvspi.spi.RequestRejectedException.Reason;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * The independent IOThread pool: its threads, the placement policies (the pure
 * rule in {@link IOThreadPolicy#choose}), run-time add and remove, move,
 * polling and vq-mapping.
 */
@Contract(value = "iothreads", title = "IOThreads")
public abstract class IOThreadContract extends ContractBase {
    /** Stand-in ids for attempts on a VM without a pool (the attempt must fail before they matter). */
    private static final List<String> NO_POOL_IDS = List.of("indep_iothread_0", "indep_iothread_1");

    protected IOThreadContract(TckKit kit) {
        super(kit);
    }

    @Test
    @Order(1)
    @Exercises(INDEPENDENT_IOTHREADS)
    @DisplayName("the pool has the IOThreads asked for, idle, with the configured policy")
    void poolHasTheRequestedIOThreads() {
        Hypervisor vm = kit.startVm(3, IOThreadPolicy.ROUND_ROBIN);
        if (!kit.supports(vm, INDEPENDENT_IOTHREADS, vm::requireIoThreads)) {
            return;
        }
        List<IOThreadInfo> threads = poolThreads(vm);
        assertEquals(3, threads.size(), () -> "a pool of 3 was asked for: " + threads);
        assertEquals(3, threads.stream().map(IOThreadInfo::id).distinct().count(), "IOThread ids are distinct");
        assertTrue(threads.stream().allMatch(t -> t.devices().isEmpty()), "a new pool has no devices");
        assertEquals(IOThreadPolicy.ROUND_ROBIN, pool(vm).policy());
    }

    @Test
    @Order(2)
    @Exercises(INDEPENDENT_IOTHREADS)
    @DisplayName("pool IOThreads have real host thread ids, listed in hostThreads()")
    void poolThreadsHaveRealHostThreadIds() {
        Hypervisor vm = kit.startVm(2, IOThreadPolicy.LEAST_LOADED);
        if (!kit.supports(vm, INDEPENDENT_IOTHREADS, vm::requireIoThreads)) {
            return;
        }
        HostThreads host = vm.hostThreads();
        Set<Long> ioThreadTids = host.withRole(HostThreads.Role.IOTHREAD).stream()
                .map(HostThreads.HostThread::tid).collect(Collectors.toSet());
        Set<Long> seen = new HashSet<>();
        for (IOThreadInfo t : poolThreads(vm)) {
            assertTrue(t.hostThreadId().isPresent(), () -> "IOThread '" + t.id() + "' has no host thread id");
            long tid = t.hostThreadId().getAsLong();
            assertTrue(seen.add(tid), () -> "host thread " + tid + " given to two IOThreads");
            assertRealThread(host.pid(), tid, "IOThread '" + t.id() + "'");
            assertTrue(ioThreadTids.contains(tid),
                    () -> "IOThread '" + t.id() + "' (tid " + tid + ") is missing from hostThreads() as IOTHREAD");
        }
    }

    @Test
    @Order(3)
    @Exercises(INDEPENDENT_IOTHREADS)
    @DisplayName("an empty pool has nothing to choose")
    void emptyPoolIsExhausted() {
        Hypervisor vm = kit.startVm(0, IOThreadPolicy.LEAST_LOADED);
        if (!kit.supports(vm, INDEPENDENT_IOTHREADS, vm::requireIoThreads)) {
            return;
        }
        assertEquals(List.of(), poolThreads(vm));
        assertRejected(Reason.EXHAUSTED, () -> pool(vm).choose(), "choosing from an empty pool");
    }

    @Test
    @Order(4)
    @Exercises(INDEPENDENT_IOTHREADS)
    @DisplayName("policy first puts every device on the first IOThread (Kata)")
    void firstPolicyUsesTheFirstIOThread() {
        Hypervisor vm = kit.startVm(3, IOThreadPolicy.FIRST);
        if (!poolAndHotplug(vm)) {
            return;
        }
        List<String> ids = poolIds(vm);
        for (int i = 0; i < 3; i++) {
            assertPlaced(vm, "tck-f" + i, ids.get(0));
        }
        assertEquals(List.of("tck-f0", "tck-f1", "tck-f2"), thread(vm, ids.get(0)).devices());
    }

    @Test
    @Order(5)
    @Exercises(INDEPENDENT_IOTHREADS)
    @DisplayName("policy round-robin takes the IOThreads in turn")
    void roundRobinPolicyTakesTurns() {
        Hypervisor vm = kit.startVm(3, IOThreadPolicy.ROUND_ROBIN);
        if (!poolAndHotplug(vm)) {
            return;
        }
        List<String> ids = poolIds(vm);
        assertPlaced(vm, "tck-r0", ids.get(0));
        assertPlaced(vm, "tck-r1", ids.get(1));
        hotplug(vm).detach("tck-r0");
        assertPlaced(vm, "tck-r2", ids.get(2));
        assertPlaced(vm, "tck-r3", ids.get(0));
    }

    @Test
    @Order(6)
    @Exercises(INDEPENDENT_IOTHREADS)
    @DisplayName("policy least-loaded picks the emptiest IOThread, the earliest on ties")
    void leastLoadedPolicyPicksTheEmptiest() {
        Hypervisor vm = kit.startVm(3, IOThreadPolicy.LEAST_LOADED);
        if (!poolAndHotplug(vm)) {
            return;
        }
        List<String> ids = poolIds(vm);
        assertPlaced(vm, "tck-l0", ids.get(0));
        assertPlaced(vm, "tck-l1", ids.get(1));
        hotplug(vm).detach("tck-l0");
        assertPlaced(vm, "tck-l2", ids.get(0));
        assertPlaced(vm, "tck-l3", ids.get(2));
        assertPlaced(vm, "tck-l4", ids.get(0));
        assertEquals(List.of("tck-l2", "tck-l4"), thread(vm, ids.get(0)).devices());
    }

    @Test
    @Order(7)
    @Exercises(INDEPENDENT_IOTHREADS)
    @DisplayName("an explicit IOThread and the main loop are honoured; an unknown IOThread is refused")
    void explicitChoicesAreHonoured() {
        Hypervisor vm = kit.startVm(2, IOThreadPolicy.FIRST);
        if (!poolAndHotplug(vm)) {
            return;
        }
        List<String> ids = poolIds(vm);
        BlockDevice named = hotplug(vm).attach(disk(vm, "tck-n").ioThread(IOThreadChoice.named(ids.get(1))).build());
        assertEquals(List.of(ids.get(1)), named.ioThreads());
        assertEquals(List.of("tck-n"), thread(vm, ids.get(1)).devices());
        BlockDevice main = hotplug(vm).attach(disk(vm, "tck-m").ioThread(IOThreadChoice.mainLoop()).build());
        assertTrue(main.onMainLoop(), () -> "asked for the main loop, got " + main.ioThreads());
        assertTrue(pool(vm).list().stream().noneMatch(t -> t.devices().contains("tck-m")),
                "a main-loop device must not be counted on an IOThread");
        assertRejected(Reason.NOT_FOUND,
                () -> hotplug(vm).attach(disk(vm, "tck-u").ioThread(IOThreadChoice.named("tck_nothing")).build()),
                "attaching to IOThread 'tck_nothing'");
        assertEquals(List.of("tck-n", "tck-m"), deviceIds(vm));
    }

    @Test
    @Order(8)
    @Exercises(IOTHREAD_RUNTIME_ADD)
    @DisplayName("IOThreads are added and removed while the VM runs")
    void ioThreadsAreAddedAndRemoved() {
        Hypervisor vm = kit.startVm(1, IOThreadPolicy.LEAST_LOADED);
        if (!kit.supports(vm, IOTHREAD_RUNTIME_ADD, () -> pool(vm).add("tck_extra"))) {
            return;
        }
        IOThreadProvider pool = pool(vm);
        IOThreadInfo added = pool.add("tck_extra");
        assertEquals("tck_extra", added.id());
        assertEquals(IOThreadInfo.Kind.POOL, added.kind());
        assertTrue(added.hostThreadId().isPresent(), "an added IOThread has a host thread id");
        long pid = vm.hostThreads().pid();
        long tid = added.hostThreadId().getAsLong();
        assertRealThread(pid, tid, "added IOThread 'tck_extra'");
        assertTrue(poolIds(vm).contains("tck_extra"));
        assertRejected(Reason.DUPLICATE_ID, () -> pool.add("tck_extra"), "adding 'tck_extra' twice");
        assertRejected(Reason.INVALID_ARGUMENT, () -> pool.add("bad id,x"), "IOThread id 'bad id,x'");
        pool.remove("tck_extra");
        assertFalse(poolIds(vm).contains("tck_extra"), "a removed IOThread is not listed");
        assertThreadGone(pid, tid, "removed IOThread 'tck_extra'");
        assertRejected(Reason.NOT_FOUND, () -> pool.remove("tck_extra"), "removing 'tck_extra' again");
    }

    @Test
    @Order(9)
    @Exercises(IOTHREAD_RUNTIME_ADD)
    @DisplayName("removing an IOThread a device uses is refused")
    void removingAnIOThreadInUseIsRefused() {
        Hypervisor vm = kit.startVm(2, IOThreadPolicy.LEAST_LOADED);
        if (!kit.supports(vm, IOTHREAD_RUNTIME_ADD, () -> pool(vm).remove(poolIds(vm).get(1)))
                || !kit.supports(vm, BLOCK_DEVICE_HOTPLUG, vm::requireHotplug)) {
            return;
        }
        String busy = poolIds(vm).get(0);
        hotplug(vm).attach(disk(vm, "tck-busy").ioThread(IOThreadChoice.named(busy)).build());
        assertRejected(Reason.IN_USE, () -> pool(vm).remove(busy), "removing IOThread '" + busy + "' in use");
        assertEquals(List.of("tck-busy"), thread(vm, busy).devices(), "a refused removal changes nothing");
        hotplug(vm).detach("tck-busy");
        pool(vm).remove(busy);
        assertFalse(poolIds(vm).contains(busy), "once free, the IOThread can be removed");
    }

    @Test
    @Order(10)
    @Exercises(IOTHREAD_MOVE)
    @DisplayName("move puts an attached device on another IOThread")
    void moveChangesTheDevicesIOThread() {
        Hypervisor vm = kit.startVm(2, IOThreadPolicy.FIRST);
        if (!kit.supports(vm, IOTHREAD_MOVE, () -> {
            DeviceHotplug hp = hotplug(vm);
            hp.attach(disk(vm, "tck-mv").build());
            hp.move("tck-mv", IOThreadChoice.named(ids(vm).get(1)));
        })) {
            return;
        }
        List<String> ids = poolIds(vm);
        hotplug(vm).attach(disk(vm, "tck-mv").ioThread(IOThreadChoice.named(ids.get(0))).build());
        BlockDevice moved = hotplug(vm).move("tck-mv", IOThreadChoice.named(ids.get(1)));
        assertEquals("tck-mv", moved.id());
        assertEquals(List.of(ids.get(1)), moved.ioThreads());
        assertEquals(List.of("tck-mv"), deviceIds(vm), "a moved device is listed once");
        assertEquals(List.of(ids.get(1)), hotplug(vm).list().get(0).ioThreads());
        assertEquals(List.of(), thread(vm, ids.get(0)).devices(), "the old IOThread lost the device");
        assertEquals(List.of("tck-mv"), thread(vm, ids.get(1)).devices(), "the new IOThread has it");
    }

    @Test
    @Order(11)
    @Exercises(IOTHREAD_POLLING)
    @DisplayName("polling parameters are set per IOThread")
    void pollingParametersAreApplied() {
        Hypervisor vm = kit.startVm(1, IOThreadPolicy.LEAST_LOADED);
        PollingParams polling = new PollingParams(16384, 2, 4);
        if (!kit.supports(vm, IOTHREAD_POLLING, () -> pool(vm).setPolling(ids(vm).get(0), polling))) {
            return;
        }
        String id = poolIds(vm).get(0);
        pool(vm).setPolling(id, polling);
        assertEquals(Optional.of(polling), thread(vm, id).polling(),
                "a plugin that declares polling must report what was set in list(), not ignore it");
        assertRejected(Reason.NOT_FOUND, () -> pool(vm).setPolling("tck_nothing", polling),
                "polling of IOThread 'tck_nothing'");
    }

    @Test
    @Order(12)
    @Exercises(IOTHREAD_VQ_MAPPING)
    @DisplayName("vq-mapping spreads one device's queues over several IOThreads")
    void vqMappingSpreadsQueues() {
        Hypervisor vm = kit.startVm(2, IOThreadPolicy.LEAST_LOADED);
        if (!kit.supports(vm, IOTHREAD_VQ_MAPPING, () -> hotplug(vm).attach(
                disk(vm, "tck-vq").ioThread(IOThreadChoice.vqMapped(ids(vm))).queues(2).build()))) {
            assertTrue(vm.hotplug().map(hp -> hp.list().isEmpty()).orElse(true), "a refused attach leaves no device");
            return;
        }
        List<String> ids = poolIds(vm);
        BlockDevice d = hotplug(vm).attach(disk(vm, "tck-vq").ioThread(IOThreadChoice.vqMapped(ids)).queues(2).build());
        assertEquals(ids, d.ioThreads());
        assertEquals(2, d.queues());
        for (String id : ids) {
            assertEquals(List.of("tck-vq"), thread(vm, id).devices(), () -> "IOThread '" + id + "' serves tck-vq");
        }
    }

    @Test
    @Order(13)
    @Exercises(IOTHREAD_PINNING)
    @DisplayName("a pinned IOThread runs on the CPUs asked for, as the kernel reports it; the others are untouched")
    void pinnedIoThreadHasTheKernelsAffinity() {
        Hypervisor vm = kit.startVm(2, IOThreadPolicy.LEAST_LOADED);
        CpuSet last = CpuSet.of(Runtime.getRuntime().availableProcessors() - 1);
        if (!kit.supports(vm, IOTHREAD_PINNING, () -> pool(vm).pin(ids(vm).get(0), last))) {
            return;
        }
        List<String> ids = poolIds(vm);
        long pid = vm.hostThreads().pid();
        long pinnedTid = thread(vm, ids.get(0)).hostThreadId().orElseThrow();
        long otherTid = thread(vm, ids.get(1)).hostThreadId().orElseThrow();
        Optional<String> otherBefore = HostProc.cpusAllowed(pid, otherTid);
        IOThreadInfo pinned = pool(vm).pin(ids.get(0), last);
        assertEquals(Optional.of(last.toString()), HostProc.cpusAllowed(pid, pinnedTid),
                "the kernel's Cpus_allowed_list of the pinned IOThread is the set asked for");
        assertEquals(Optional.of(last), pinned.affinity(), "pin() reports the kernel's affinity");
        assertEquals(Optional.of(last), thread(vm, ids.get(0)).pinned(), "list() reports the pin");
        assertEquals(Optional.of(last), thread(vm, ids.get(0)).affinity(), "list() reports the kernel's affinity");
        assertEquals(otherBefore, HostProc.cpusAllowed(pid, otherTid), "the other IOThread is untouched");
        assertEquals(Optional.empty(), thread(vm, ids.get(1)).pinned());
        IOThreadInfo unpinned = pool(vm).unpin(ids.get(0));
        assertEquals(Optional.empty(), unpinned.pinned());
        CpuSet after = CpuSet.parse(HostProc.cpusAllowed(pid, pinnedTid).orElseThrow());
        assertTrue(CpuSet.parse(otherBefore.orElseThrow()).isSubsetOf(after),
                () -> "unpinned, it may run at least where the others do (" + otherBefore.get() + "), has " + after);
        assertRejected(Reason.NOT_FOUND, () -> pool(vm).pin("tck_nothing", last), "pinning IOThread 'tck_nothing'");
        assertRejected(Reason.INVALID_ARGUMENT, () -> pool(vm).pin(ids.get(0), CpuSet.of(CpuSet.MAX_CPU)),
                "pinning to CPU " + CpuSet.MAX_CPU + ", which no test host has");
    }

    @Test
    @Order(14)
    @Exercises(INDEPENDENT_IOTHREADS)
    @DisplayName("a named IOThread on a VM without a pool is refused as unsupported and attaches nothing")
    void namedIoThreadWithoutPool() {
        Hypervisor vm = kit.startVm(2, IOThreadPolicy.LEAST_LOADED);
        if (!kit.supports(vm, BLOCK_DEVICE_HOTPLUG, vm::requireHotplug)) {
            return;
        }
        String named = vm.ioThreads().isPresent() ? poolIds(vm).get(0) : NO_POOL_IDS.get(0);
        if (!kit.supports(vm, INDEPENDENT_IOTHREADS,
                () -> hotplug(vm).attach(disk(vm, "tck-np").ioThread(IOThreadChoice.named(named)).build()))) {
            assertEquals(List.of(), hotplug(vm).list(), "a refused attach must leave no device");
            return;
        }
        // with a pool the same request is honoured (explicitChoicesAreHonoured goes further)
        BlockDevice d = hotplug(vm).attach(disk(vm, "tck-np").ioThread(IOThreadChoice.named(named)).build());
        assertEquals(List.of(named), d.ioThreads());
    }

    /** Both guards the placement tests need. */
    private boolean poolAndHotplug(Hypervisor vm) {
        return kit.supports(vm, INDEPENDENT_IOTHREADS, vm::requireIoThreads)
                && kit.supports(vm, BLOCK_DEVICE_HOTPLUG, vm::requireHotplug);
    }

    /** Attaches by policy and checks it lands where choose() said and the test expects. */
    private void assertPlaced(Hypervisor vm, String deviceId, String expected) {
        String chosen = pool(vm).choose();
        assertEquals(chosen, pool(vm).choose(), "choose() must not reserve");
        assertEquals(expected, chosen, () -> "policy " + pool(vm).policy().key() + " must choose " + expected);
        BlockDevice d = hotplug(vm).attach(disk(vm, deviceId).build());
        assertEquals(List.of(expected), d.ioThreads(), () -> deviceId + " must be placed where choose() said");
        assertTrue(thread(vm, expected).devices().contains(deviceId),
                () -> "IOThread '" + expected + "' must list " + deviceId);
    }

    /** The pool's ids where there is a pool, else stand-ins for an attempt that must fail anyway. */
    private static List<String> ids(Hypervisor vm) {
        if (vm.ioThreads().isEmpty()) {
            return NO_POOL_IDS;
        }
        List<String> ids = poolIds(vm);
        return ids.size() >= 2 ? ids.subList(0, 2) : NO_POOL_IDS;
    }
}
