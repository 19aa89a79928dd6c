package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.kit.threads.CgroupPlacement;
import io.hvspi.kit.threads.ThreadAffinity;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.state.Intent;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.CpuSet;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * IOThread pinning and cgroup placement on the installed real QEMU, checked through the
 * kernel: {@code /proc/PID/task/TID/status} ({@code Cpus_allowed_list}) and the
 * cgroup's own files ({@code tasks}, {@code cpuset.cpus}), never only hvspi's records.
 */
class PinningTest {
    private static final String IO0 = "indep_iothread_0";
    private static final String IO1 = "indep_iothread_1";
    private static final String IO2 = "indep_iothread_2";

    @TempDir
    Path tmp;
    private final List<QemuHypervisor> vms = new ArrayList<>();
    private final List<String> cgroups = new ArrayList<>();

    @AfterEach
    void cleanUp() {
        vms.forEach(QemuHypervisor::stop);
        CgroupPlacement.detect().ifPresent(cg -> cgroups.forEach(c -> removeWhenEmpty(cg, c)));
    }

    private QemuHypervisor start(VmSpec spec, DefaultHostContext host) {
        QemuHypervisor vm = (QemuHypervisor) new QemuHypervisorFactory().create(spec, host);
        vms.add(vm);
        vm.start();
        return vm;
    }

    /** The last CPU of this host: a set that differs from the default (every CPU) on any host with two. */
    private static CpuSet lastCpu() {
        CpuSet host = ThreadAffinity.hostCpus();
        assumeTrue(host.size() >= 2, "pinning is only visible on a host with two CPUs or more");
        return CpuSet.of(host.highest());
    }

    /** {@code Cpus_allowed_list} of a thread of QEMU, read by the test itself. */
    private static String cpusAllowed(long pid, long tid) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "task", Long.toString(tid),
                "status"), StandardCharsets.UTF_8)) {
            if (line.startsWith("Cpus_allowed_list:")) {
                return line.substring(line.indexOf(':') + 1).strip();
            }
        }
        throw new AssertionError("no Cpus_allowed_list for " + tid);
    }

    private static Map<String, Long> tids(QemuHypervisor vm) {
        Map<String, Long> out = new HashMap<>();
        vm.monitorCommand("query-iothreads", null).forEach(t -> out.put(t.path("id").asText(),
                t.path("thread-id").asLong()));
        return out;
    }

    private static long pid(QemuHypervisor vm) {
        return vm.hostThreads().pid();
    }

    @Test
    void pinnedIoThreadHasTheSetOthersAreUntouchedAndAFreshProcessReportsThePin() throws Exception {
        CpuSet last = lastCpu();
        DefaultHostContext host = TestVms.host(tmp);
        QemuHypervisor vm = start(TestVms.spec("pin", 3, IOThreadPolicy.LEAST_LOADED), host);
        long pid = pid(vm);
        Map<String, Long> tids = tids(vm);
        String before = cpusAllowed(pid, tids.get(IO1));
        assertEquals(ThreadAffinity.hostCpus().toString(), before, "QEMU's IOThreads start on every CPU");

        IOThreadInfo pinned = vm.requireIoThreads().pin(IO0, last);

        assertEquals(last.toString(), cpusAllowed(pid, tids.get(IO0)));
        assertEquals(Optional.of(last), pinned.affinity());
        assertEquals(Optional.of(last), pinned.pinned());
        assertEquals(before, cpusAllowed(pid, tids.get(IO1)), "another IOThread is untouched");
        assertEquals(before, cpusAllowed(pid, tids.get(IO2)), "another IOThread is untouched");
        assertEquals(before, cpusAllowed(pid, pid), "QEMU's main thread is untouched");
        QemuState saved = TestVms.durable(host.stateStore().load("pin").orElseThrow());
        assertEquals(QemuState.FORMAT, saved.format());
        assertEquals(Map.of(IO0, last.toString()), saved.pins());
        assertEquals(List.of(), saved.intents(), "a finished pin leaves no intent");

        vm.close(); // QMP takes one client: the fresh process's
        vms.remove(vm);
        try (ChildJvm child = ChildJvm.start(host.runtimeRoot(), "pin", "pins", tmp.resolve("child.log"), false)) {
            assertTrue(child.awaitLine("ready", 30_000), "the child reattached");
            List<String> lines;
            try {
                lines = child.linesBefore("done", 30_000);
            } catch (AssertionError e) {
                throw new AssertionError(e.getMessage() + "; its log: " + Files.readString(tmp.resolve("child.log")));
            }
            assertEquals(List.of("pin " + IO0 + " " + last + " " + last, "pin " + IO1 + " - " + before,
                    "pin " + IO2 + " - " + before), lines);
            assertEquals(0, child.waitFor());
        }

        QemuHypervisor again = QemuHypervisor.reattach(host.stateStore().load("pin").orElseThrow(), host);
        vms.add(again);
        assertEquals(last.toString(), cpusAllowed(pid, tids.get(IO0)), "a reattach keeps the pin");
        IOThreadInfo unpinned = again.requireIoThreads().unpin(IO0);
        assertEquals(Optional.empty(), unpinned.pinned());
        assertEquals(before, cpusAllowed(pid, tids.get(IO0)));
        assertEquals(Map.of(), TestVms.durable(host.stateStore().load("pin").orElseThrow()).pins());
    }

    @Test
    void everyListingReportsWhatTheKernelSaysNowAboutEachThread() throws Exception {
        CpuSet last = lastCpu();
        QemuHypervisor vm = start(TestVms.spec("list-affinity", 3, IOThreadPolicy.LEAST_LOADED), TestVms.host(tmp));
        IOThreadProvider pool = vm.requireIoThreads();
        long pid = pid(vm);
        pool.list(); // the threads a listing reads while QEMU answers the next one
        Map<String, Long> tids = tids(vm);
        // changed behind hvspi's back, by another process
        Process taskset = new ProcessBuilder("taskset", "-p", "-c", last.toString(), Long.toString(tids.get(IO1)))
                .redirectErrorStream(true).start();
        assertEquals(0, taskset.waitFor(), new String(taskset.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
        pool.add("late");
        for (IOThreadInfo t : pool.list()) {
            long tid = t.hostThreadId().orElseThrow();
            assertEquals(Optional.of(CpuSet.parse(cpusAllowed(pid, tid))), t.affinity(), t.id());
        }
        assertEquals(Optional.of(last), pool.list().stream().filter(t -> t.id().equals(IO1)).findFirst()
                .orElseThrow().affinity());
        // the last listing's threads include one that is gone now, and the next names one it never saw
        pool.remove("late");
        pool.add("later");
        List<IOThreadInfo> after = pool.list();
        assertEquals(List.of(IO0, IO1, IO2, "later"), after.stream().map(IOThreadInfo::id).sorted().toList());
        for (IOThreadInfo t : after) {
            assertEquals(Optional.of(CpuSet.parse(cpusAllowed(pid, t.hostThreadId().orElseThrow()))), t.affinity(),
                    t.id());
        }
    }

    @Test
    void refusesUnknownIoThreadsAndCpusTheHostLacks() throws Exception {
        QemuHypervisor vm = start(TestVms.spec("pinbad", 1, IOThreadPolicy.LEAST_LOADED), TestVms.host(tmp));
        IOThreadProvider pool = vm.requireIoThreads();
        RequestRejectedException absent = assertThrows(RequestRejectedException.class,
                () -> pool.pin("nothing", CpuSet.of(0)));
        assertEquals(RequestRejectedException.Reason.NOT_FOUND, absent.reason());
        CpuSet far = CpuSet.of(CpuSet.MAX_CPU);
        RequestRejectedException missing = assertThrows(RequestRejectedException.class, () -> pool.pin(IO0, far));
        assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT, missing.reason());
        assertTrue(missing.getMessage().contains("8191") && missing.getMessage().contains("online"),
                missing.getMessage());
        long tid = tids(vm).get(IO0);
        assertEquals(ThreadAffinity.hostCpus().toString(), cpusAllowed(pid(vm), tid), "a refused pin changes nothing");
    }

    @Test
    void aSpecWhosePoolCpusTheHostLacksIsRefusedBeforeQemuStarts() {
        VmSpec spec = TestVms.spec("pinfar", 1, IOThreadPolicy.LEAST_LOADED).toBuilder()
                .placement(new VmSpec.ThreadPlacement(Optional.of(CpuSet.of(0, CpuSet.MAX_CPU)), Optional.empty(),
                        Optional.empty())).build();
        io.hvspi.spi.ConfigException e = assertThrows(io.hvspi.spi.ConfigException.class,
                () -> new QemuHypervisorFactory().create(spec, TestVms.host(tmp)));
        assertTrue(e.getMessage().contains("indep_iothreads_cpus") && e.getMessage().contains("8191"),
                e.getMessage());
        assertFalse(Files.exists(tmp.resolve("run").resolve("pinfar")), "nothing was started");
    }

    @Test
    void poolCpuSetAppliesAtStartAndToIoThreadsAddedLater() throws Exception {
        CpuSet last = lastCpu();
        VmSpec spec = TestVms.spec("pinpool", 2, IOThreadPolicy.LEAST_LOADED).toBuilder()
                .placement(new VmSpec.ThreadPlacement(Optional.of(last), Optional.empty(), Optional.empty())).build();
        QemuHypervisor vm = start(spec, TestVms.host(tmp));
        long pid = pid(vm);
        Map<String, Long> tids = tids(vm);
        assertEquals(last.toString(), cpusAllowed(pid, tids.get(IO0)));
        assertEquals(last.toString(), cpusAllowed(pid, tids.get(IO1)));
        for (HostThreads.HostThread t : vm.hostThreads().withRole(HostThreads.Role.VCPU)) {
            assertEquals(ThreadAffinity.hostCpus().toString(), cpusAllowed(pid, t.tid()), "vCPUs are not pinned");
            assertEquals(Optional.of(ThreadAffinity.hostCpus()), t.affinity(), "hostThreads() reports affinity");
        }

        IOThreadInfo added = vm.requireIoThreads().add("extra");
        assertEquals(last.toString(), cpusAllowed(pid, added.hostThreadId().orElseThrow()),
                "an IOThread added at run time joins the pool's CPU set");
        assertEquals(Optional.of(last), added.pinned());
        vm.requireIoThreads().remove("extra");
        assertFalse(TestVms.durable(TestVms.host(tmp).stateStore().load("pinpool").orElseThrow())
                .pins().containsKey("extra"), "a removed IOThread's pin is forgotten");
    }

    @Test
    void movingADiskKeepsItOnTheTargetIoThreadsCpus() throws Exception {
        CpuSet last = lastCpu();
        QemuHypervisor vm = start(TestVms.spec("pinmove", 2, IOThreadPolicy.LEAST_LOADED), TestVms.host(tmp));
        vm.requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend())
                .ioThread(IOThreadChoice.named(IO0)).build());
        vm.requireIoThreads().pin(IO1, last);
        vm.requireHotplug().move("d0", IOThreadChoice.named(IO1));
        String link = vm.monitorCommand("qom-get", QmpClient.args().put("path", "/machine/peripheral/d0")
                .put("property", "iothread")).asText();
        assertTrue(link.endsWith("/" + IO1), link);
        assertEquals(last.toString(), cpusAllowed(pid(vm), tids(vm).get(IO1)), "the target IOThread is still pinned");
        vm.requireHotplug().detach("d0");
    }

    @Test
    void aPinIntentLeftByADeadProcessIsSettledAgainstTheKernel() throws Exception {
        CpuSet last = lastCpu();
        DefaultHostContext host = TestVms.host(tmp);
        QemuHypervisor vm = start(TestVms.spec("pinintent", 2, IOThreadPolicy.LEAST_LOADED), host);
        Map<String, Long> tids = tids(vm);
        // a process that died after the kernel applied IO0's pin but before it recorded it, and one that died
        // before applying IO1's: the record holds both intents, the kernel only the first
        ThreadAffinity.set(tids.get(IO0), last);
        VmRecord record = host.stateStore().load("pinintent").orElseThrow();
        QemuState s = TestVms.durable(record);
        QemuState dead = s.with(s.devices(), s.ioThreads(), List.of(Intent.pin(IO0, last.toString()),
                Intent.pin(IO1, last.toString())), s.nextNode());
        host.stateStore().save(new VmRecord(record.vmId(), record.hypervisorType(), record.pid(), record.runtimeDir(),
                record.createdAt(), dead.toJson()));
        vm.close();
        vms.remove(vm);
        QemuHypervisor again = QemuHypervisor.reattach(host.stateStore().load("pinintent").orElseThrow(), host);
        vms.add(again);
        assertEquals(Optional.of(last), thread(again, IO0).pinned(), () -> "adopted: " + again.reconciliation());
        assertEquals(Optional.empty(), thread(again, IO1).pinned(), () -> "forgotten: " + again.reconciliation());
        assertEquals(2, again.reconciliation().size(), () -> String.valueOf(again.reconciliation()));
        QemuState settled = TestVms.durable(host.stateStore().load("pinintent").orElseThrow());
        assertEquals(Map.of(IO0, last.toString()), settled.pins());
        assertEquals(List.of(), settled.intents());
    }

    @Test
    void aRecordedPinTheKernelDoesNotHaveIsDroppedOnReattach() throws Exception {
        CpuSet last = lastCpu();
        DefaultHostContext host = TestVms.host(tmp);
        QemuHypervisor vm = start(TestVms.spec("pinmoved", 2, IOThreadPolicy.LEAST_LOADED), host);
        vm.requireIoThreads().pin(IO0, last);
        vm.requireIoThreads().pin(IO1, last);
        // someone moves IO0's thread behind hvspi's back (taskset, a runtime); IO1 stays where it was pinned
        ThreadAffinity.set(tids(vm).get(IO0), ThreadAffinity.hostCpus());
        vm.close();
        vms.remove(vm);
        QemuHypervisor again = QemuHypervisor.reattach(host.stateStore().load("pinmoved").orElseThrow(), host);
        vms.add(again);
        assertEquals(Optional.empty(), thread(again, IO0).pinned(), () -> "dropped: " + again.reconciliation());
        assertEquals(Optional.of(last), thread(again, IO1).pinned(), () -> "kept: " + again.reconciliation());
        assertEquals(1, again.reconciliation().size(), () -> String.valueOf(again.reconciliation()));
        assertEquals(Map.of(IO1, last.toString()),
                TestVms.durable(host.stateStore().load("pinmoved").orElseThrow()).pins());
    }

    /**
     * The kernel intersects a pin with the thread's cpuset: asked for every CPU, a thread whose
     * cpuset has only the last one gets that one. The record holds what the kernel applied, so a
     * reattach, which holds the record against the kernel, keeps the pin and changes nothing.
     */
    @Test
    void aPinNarrowedByItsCpusetSurvivesAReattach() throws Exception {
        CpuSet last = lastCpu();
        CgroupPlacement cg = v1Cpuset();
        DefaultHostContext host = TestVms.host(tmp);
        QemuHypervisor vm = start(TestVms.spec("pinnarrow", 2, IOThreadPolicy.LEAST_LOADED), host);
        String group = "/hvspi-pin-test-" + ProcessHandle.current().pid() + "-narrow";
        cgroups.add(group);
        cg.prepare(group, Optional.of(last));
        long tid = tids(vm).get(IO0);
        cg.place(group, tid);
        IOThreadInfo pinned = vm.requireIoThreads().pin(IO0, ThreadAffinity.hostCpus());
        assertEquals(last.toString(), cpusAllowed(pid(vm), tid), "the kernel narrowed the pin to the cpuset");
        assertEquals(Optional.of(last), pinned.pinned(), "recorded as the kernel applied it");
        vm.close();
        vms.remove(vm);
        QemuHypervisor again = QemuHypervisor.reattach(host.stateStore().load("pinnarrow").orElseThrow(), host);
        vms.add(again);
        assertEquals(List.of(), again.reconciliation(), "nothing to settle");
        assertEquals(Optional.of(last), thread(again, IO0).pinned());
        assertEquals(Map.of(IO0, last.toString()),
                TestVms.durable(host.stateStore().load("pinnarrow").orElseThrow()).pins());
    }

    /**
     * A process that died between an IOThread's object-add (recorded) and its placement: the
     * reattach places it as the pool is, where it used to leave it on every CPU for good.
     */
    @Test
    void anIOThreadAddedByAProcessThatDiedIsPlacedOnReattach() throws Exception {
        CpuSet last = lastCpu();
        DefaultHostContext host = TestVms.host(tmp);
        VmSpec spec = TestVms.spec("pinlate", 1, IOThreadPolicy.LEAST_LOADED).toBuilder()
                .placement(new VmSpec.ThreadPlacement(Optional.of(last), Optional.empty(), Optional.empty())).build();
        QemuHypervisor vm = start(spec, host);
        long pid = pid(vm);
        vm.monitorCommand("object-add", QmpClient.args().put("qom-type", "iothread").put("id", "late"));
        long tid = tids(vm).get("late");
        assertEquals(ThreadAffinity.hostCpus().toString(), cpusAllowed(pid, tid), "not placed yet");
        vm.close();
        vms.remove(vm);
        QemuHypervisor again = QemuHypervisor.reattach(host.stateStore().load("pinlate").orElseThrow(), host);
        vms.add(again);
        assertEquals(last.toString(), cpusAllowed(pid, tid), () -> "placed: " + again.reconciliation());
        assertEquals(Optional.of(last), thread(again, "late").pinned());
        assertEquals(last.toString(), TestVms.durable(host.stateStore().load("pinlate").orElseThrow()).pins()
                .get("late"));
        assertEquals(last.toString(), cpusAllowed(pid, tids(again).get(IO0)), "the pool's own IOThread is untouched");
    }

    /**
     * Unpin returns an IOThread to the CPUs QEMU's process may use (here: QEMU started under
     * {@code taskset -c 0}), as the SPI says, not to every CPU of the host.
     */
    @Test
    void unpinReturnsToTheProcessesCpus() throws Exception {
        lastCpu();
        Path wrapper = tmp.resolve("qemu-on-cpu0");
        Files.writeString(wrapper, "#!/bin/sh\nexec taskset -c 0 " + QemuBinary.system().path() + " \"$@\"\n");
        Files.setPosixFilePermissions(wrapper, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        QemuHypervisor vm = start(TestVms.spec(wrapper, "unpinproc", 1, IOThreadPolicy.LEAST_LOADED),
                TestVms.host(tmp));
        long pid = pid(vm);
        long tid = tids(vm).get(IO0);
        assertEquals("0", cpusAllowed(pid, pid), "QEMU runs on CPU 0");
        vm.requireIoThreads().pin(IO0, ThreadAffinity.hostCpus());
        assertEquals(ThreadAffinity.hostCpus().toString(), cpusAllowed(pid, tid));
        IOThreadInfo unpinned = vm.requireIoThreads().unpin(IO0);
        assertEquals("0", cpusAllowed(pid, tid), "back to the process's CPUs");
        assertEquals(Optional.empty(), unpinned.pinned());
    }

    /**
     * Under a pool CPU set, an unpinned pool IOThread goes back to the pool's set and stays there
     * across a reattach; it used to get every CPU, and the next reattach placed it on the pool's
     * set again, undoing the unpin later.
     */
    @Test
    void unpinOfAPoolIoThreadUnderAPoolCpuSetReturnsItToThePoolsSet() throws Exception {
        CpuSet last = lastCpu();
        DefaultHostContext host = TestVms.host(tmp);
        VmSpec spec = TestVms.spec("unpinpool", 1, IOThreadPolicy.LEAST_LOADED).toBuilder()
                .placement(new VmSpec.ThreadPlacement(Optional.of(last), Optional.empty(), Optional.empty())).build();
        QemuHypervisor vm = start(spec, host);
        long pid = pid(vm);
        long tid = tids(vm).get(IO0);
        vm.requireIoThreads().pin(IO0, ThreadAffinity.hostCpus());
        assertEquals(ThreadAffinity.hostCpus().toString(), cpusAllowed(pid, tid));
        IOThreadInfo unpinned = vm.requireIoThreads().unpin(IO0);
        assertEquals(last.toString(), cpusAllowed(pid, tid), "back to the pool's CPU set");
        assertEquals(Optional.of(last), unpinned.pinned());
        vm.close();
        vms.remove(vm);
        QemuHypervisor again = QemuHypervisor.reattach(host.stateStore().load("unpinpool").orElseThrow(), host);
        vms.add(again);
        assertEquals(last.toString(), cpusAllowed(pid, tid), () -> "unchanged: " + again.reconciliation());
        assertEquals(java.util.List.of(), again.reconciliation(), "nothing to settle");
    }

    /** A writable v1 cpuset hierarchy, where a group's {@code cpuset.cpus} narrows its threads' pins. */
    private static CgroupPlacement v1Cpuset() {
        Optional<CgroupPlacement> found = CgroupPlacement.detect();
        assumeTrue(found.isPresent() && found.get().mode() == CgroupPlacement.Mode.V1_CPUSET,
                "needs a v1 cpuset controller");
        assumeTrue(Files.isWritable(found.get().directory("/x").getParent()), "needs a writable cgroup hierarchy");
        return found.get();
    }

    private static IOThreadInfo thread(QemuHypervisor vm, String id) {
        return vm.requireIoThreads().list().stream().filter(t -> t.id().equals(id)).findFirst().orElseThrow();
    }

    @Test
    void cgroupPlacementIsCheckedThroughTheCgroupsOwnFiles() throws Exception {
        Optional<CgroupPlacement> found = CgroupPlacement.detect();
        assumeTrue(found.isPresent(), "needs a cgroup v2 hierarchy or a v1 cpuset controller");
        CgroupPlacement cg = found.get();
        assumeTrue(Files.isWritable(cg.directory("/x").getParent()), "needs a writable cgroup hierarchy");
        CpuSet last = lastCpu();
        String parent = "/hvspi-pin-test-" + ProcessHandle.current().pid();
        String io = parent + "/io";
        String vcpu = parent + "/vcpu";
        cgroups.addAll(List.of(io, vcpu, parent));
        VmSpec spec = TestVms.spec("pincg", 2, IOThreadPolicy.LEAST_LOADED).toBuilder()
                .placement(new VmSpec.ThreadPlacement(Optional.of(last), Optional.of(io), Optional.of(vcpu))).build();
        QemuHypervisor vm = start(spec, TestVms.host(tmp));
        long pid = pid(vm);
        Map<String, Long> tids = tids(vm);
        Path ioDir = cg.directory(io);
        String tasksFile = cg.mode() == CgroupPlacement.Mode.V1_CPUSET ? "tasks" : "cgroup.threads";
        List<Long> inIo = Files.readAllLines(ioDir.resolve(tasksFile)).stream().map(Long::parseLong).sorted().toList();
        assertEquals(tids.values().stream().sorted().toList(), inIo, "the pool's IOThreads, and only they");
        List<HostThreads.HostThread> vcpus = vm.hostThreads().withRole(HostThreads.Role.VCPU);
        List<Long> inVcpu = Files.readAllLines(cg.directory(vcpu).resolve(tasksFile)).stream().map(Long::parseLong)
                .sorted().toList();
        assertEquals(vcpus.stream().map(HostThreads.HostThread::tid).sorted().toList(), inVcpu);
        if (cg.mode() == CgroupPlacement.Mode.V1_CPUSET) {
            assertEquals(last.toString(), Files.readString(ioDir.resolve("cpuset.cpus")).strip(),
                    "a group hvspi creates gets the pool's CPU set");
        }
        assertEquals(last.toString(), cpusAllowed(pid, tids.get(IO0)), "pinned after entering the cgroup");
        for (HostThreads.HostThread t : vm.hostThreads().threads()) {
            if (t.role() == HostThreads.Role.IOTHREAD) {
                assertEquals(Optional.of(io), t.cgroup(), () -> "hostThreads() reports where " + t + " is");
            } else if (t.role() == HostThreads.Role.VCPU) {
                assertEquals(Optional.of(vcpu), t.cgroup());
            } else {
                assertFalse(t.cgroup().equals(Optional.of(io)) || t.cgroup().equals(Optional.of(vcpu)),
                        () -> t + " was not asked to move");
            }
        }
    }

    /** A stopped QEMU's threads leave their cgroups as it is reaped; the poll covers a slow kernel. */
    private static void removeWhenEmpty(CgroupPlacement cg, String group) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (Files.exists(cg.directory(group))) {
            try {
                cg.remove(group);
            } catch (RuntimeException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                LockSupport.parkNanos(10_000_000);
            }
        }
    }
}
