package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.kit.threads.ThreadAffinity;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Capability;
import io.hvspi.spi.ConfigException;
import io.hvspi.spi.CpuSet;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmStateStore;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Start, stop, failure and reattach of real QEMU 7.2 VMs; each test has its own VM(s). */
class QemuLifecycleTest {
    private final QemuHypervisorFactory factory = new QemuHypervisorFactory();
    private final List<Hypervisor> started = new ArrayList<>();
    private final List<Long> pids = new ArrayList<>();
    private DefaultHostContext host;

    @TempDir
    Path tmp;

    @BeforeEach
    void host() {
        host = TestVms.host(tmp);
    }

    @AfterEach
    void leaveNothingRunning() {
        for (Hypervisor hv : started) {
            try {
                hv.stop();
            } catch (RuntimeException e) {
                // the test already failed, or closed this handle on purpose
            }
        }
        for (long pid : pids) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    private Hypervisor start(VmSpec spec) {
        Hypervisor hv = factory.create(spec, host);
        started.add(hv);
        hv.start();
        pids.add(record(spec.vmId()).pid());
        return hv;
    }

    private VmRecord record(String vmId) {
        return host.stateStore().load(vmId).orElseThrow();
    }

    private static void await(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            LockSupport.parkNanos(1_000_000);
        }
    }

    @Test
    void qemuRunsInASessionOfItsOwnSoATerminalsSignalsMissIt() throws Exception {
        start(TestVms.spec("session", 0, IOThreadPolicy.LEAST_LOADED));
        long pid = record("session").pid();
        // /proc/<pid>/stat: "pid (comm) state ppid pgrp session ..."; comm may hold spaces
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        assertEquals(Long.toString(pid), fields[3], "session id of QEMU: " + stat);
        assertEquals(ProcessHandle.current().pid(), Long.parseLong(fields[1]), "QEMU is still our child");
        String cmdline = Files.readString(Path.of("/proc", Long.toString(pid), "cmdline"));
        assertTrue(cmdline.startsWith("/usr/bin/qemu-system-x86_64\0"), "setsid exec'd QEMU in place: " + cmdline);
    }

    /** The plugin state of every save a start makes, through a host whose store records them. */
    private List<QemuState> savesOfAStart(VmSpec spec) {
        List<QemuState> saves = new ArrayList<>();
        VmStateStore store = host.stateStore();
        VmStateStore recording = new VmStateStore() {
            @Override
            public void save(VmRecord record) {
                saves.add(QemuState.fromJson(record.pluginState()));
                store.save(record);
            }

            @Override
            public Optional<VmRecord> load(String vmId) {
                return store.load(vmId);
            }

            @Override
            public List<VmRecord> list() {
                return store.list();
            }

            @Override
            public void remove(String vmId) {
                store.remove(vmId);
            }
        };
        Hypervisor hv = factory.create(spec, host.withStateStore(recording));
        started.add(hv);
        hv.start();
        pids.add(record(spec.vmId()).pid());
        return saves;
    }

    @Test
    void startSavesAtSpawnAndAfterwardsOnlyWhatChanged() throws Exception {
        // QEMU run directly: the record made at spawn already names it, and the end of start had nothing to add
        List<QemuState> saves = savesOfAStart(TestVms.spec("saves", 2, IOThreadPolicy.LEAST_LOADED));
        assertEquals(1, saves.size(), "at spawn alone: " + saves);
        assertEquals(QemuState.fromJson(record("saves").pluginState()), saves.get(0), "the record is the last save");
        assertEquals(TestVms.QEMU.toRealPath().toString(), saves.get(0).qemu().executable());

        // a wrapper that execs QEMU (as a chroot wrapper does): once QEMU's socket is up the record names QEMU,
        // which is what a reattach finds in /proc
        Path wrapper = tmp.resolve("qemu-wrapper");
        Files.writeString(wrapper, "#!/bin/sh\nexec " + TestVms.QEMU + " \"$@\"\n");
        Files.setPosixFilePermissions(wrapper, PosixFilePermissions.fromString("rwx------"));
        List<QemuState> wrapped = savesOfAStart(TestVms.spec(wrapper, "wrapped", 2, IOThreadPolicy.LEAST_LOADED));
        assertEquals(2, wrapped.size(), "at spawn, and once QEMU's socket is up: " + wrapped);
        assertEquals(wrapper.toRealPath().toString(), wrapped.get(0).qemu().executable());
        assertEquals(TestVms.QEMU.toRealPath().toString(), wrapped.get(1).qemu().executable());
        assertEquals(wrapped.get(0).qemu().startTime(), wrapped.get(1).qemu().startTime(), "the same process");
        started.remove(started.size() - 1).close(); // QEMU serves one QMP client at a time
        Hypervisor reattached = factory.reattach(record("wrapped"), host);
        started.add(reattached);
        assertEquals(VmState.PAUSED, reattached.state());

        // a start that places threads changes the state after connecting (the pins): it saves once more
        CpuSet one = CpuSet.of(ThreadAffinity.hostCpus().highest());
        List<QemuState> placed = savesOfAStart(TestVms.spec("placed", 2, IOThreadPolicy.LEAST_LOADED).toBuilder()
                .placement(new VmSpec.ThreadPlacement(Optional.of(one), Optional.empty(), Optional.empty())).build());
        assertEquals(2, placed.size());
        assertTrue(placed.get(0).pins().isEmpty(), "nothing pinned before QEMU answers");
        assertEquals(2, placed.get(1).pins().size(), "both pool IOThreads pinned: " + placed.get(1).pins());
        assertEquals(QemuState.fromJson(record("placed").pluginState()), placed.get(1));
    }

    @Test
    void stopEndsQemuAndRemovesRuntimeDirAndRecord() {
        Hypervisor hv = start(TestVms.spec("life", 2, IOThreadPolicy.LEAST_LOADED));
        VmRecord record = record("life");
        assertTrue(ProcessHandle.of(record.pid()).orElseThrow().isAlive());
        assertEquals("qemu", record.hypervisorType());
        hv.requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());
        hv.stop();
        assertEquals(VmState.STOPPED, hv.state());
        assertTrue(ProcessHandle.of(record.pid()).map(p -> !p.isAlive()).orElse(true));
        assertFalse(Files.exists(record.runtimeDir()));
        assertTrue(host.stateStore().load("life").isEmpty());
        hv.stop(); // idempotent
    }

    @Test
    void pauseAndResumeFollowQemu() {
        QemuHypervisor hv = (QemuHypervisor) start(TestVms.spec("pr", 0, IOThreadPolicy.LEAST_LOADED));
        assertEquals(VmState.PAUSED, hv.state());
        hv.resume();
        assertEquals(VmState.RUNNING, hv.state());
        assertTrue(hv.monitorCommand("query-status", null).path("running").asBoolean());
        hv.pause();
        assertEquals(VmState.PAUSED, hv.state());
        assertFalse(hv.monitorCommand("query-status", null).path("running").asBoolean());
    }

    @Test
    void withoutEnableIothreadsTheIOThreadFamilyIsAbsent() {
        Hypervisor hv = start(TestVms.spec("noio", 0, IOThreadPolicy.LEAST_LOADED));
        assertTrue(hv.ioThreads().isEmpty());
        assertFalse(hv.supports(Capability.INDEPENDENT_IOTHREADS));
        assertThrows(UnsupportedCapabilityException.class, hv::requireIoThreads);
        assertThrows(UnsupportedCapabilityException.class, () -> hv.requireHotplug().attach(
                BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).ioThread(IOThreadChoice.named("x")).build()));
        BlockDevice d = hv.requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());
        assertTrue(d.onMainLoop(), "by policy without a pool means the main loop, as in Kata");
    }

    @Test
    void reattachFromASecondInstanceSeesTheSameDevicesAndPool() {
        Hypervisor first = start(TestVms.spec("re", 3, IOThreadPolicy.ROUND_ROBIN));
        for (int i = 0; i < 5; i++) {
            first.requireHotplug().attach(BlockDeviceSpec.builder("d" + i, BlockBackend.nullBackend()).build());
        }
        first.requireIoThreads().add("extra");
        // a node with the next name the first instance would have used, e.g. left by a failed rollback
        ((QemuHypervisor) first).monitorCommand("blockdev-add", QmpClient.args().put("driver", "null-co")
                .put("node-name", "hvspi-node5").put("size", 4096));
        List<BlockDevice> devices = first.requireHotplug().list();
        List<IOThreadInfo> pool = first.requireIoThreads().list();
        first.close();
        assertTrue(ProcessHandle.of(record("re").pid()).orElseThrow().isAlive(), "close only disconnects");

        Hypervisor second = factory.reattach(record("re"), host);
        started.add(second);
        assertEquals(devices, second.requireHotplug().list());
        assertEquals(pool, second.requireIoThreads().list());
        assertEquals(VmState.PAUSED, second.state());
        // round-robin continues where the first instance stopped: d0..d4 took 0,1,2,0,1; the sixth placement
        // goes to index 5 mod 4 of the pool that now has "extra" too
        assertEquals("indep_iothread_1", second.requireIoThreads().choose());
        second.requireHotplug().detach("d2");
        assertEquals(4, second.requireHotplug().list().size());
        second.requireHotplug().attach(BlockDeviceSpec.builder("d5", BlockBackend.nullBackend()).build());
        second.stop();
        assertTrue(host.stateStore().load("re").isEmpty());
    }

    @Test
    void reattachForgetsAnUnplugThatCompletedWhileNobodyListened() {
        Hypervisor first = start(TestVms.spec("gone", 1, IOThreadPolicy.FIRST));
        first.requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());
        first.requireHotplug().attach(BlockDeviceSpec.builder("d1", BlockBackend.nullBackend()).build());
        Path socket = Path.of(TestVms.durable(record("gone")).qmpSocket());
        first.close();
        // another client removes d1 behind hvspi's back
        try (QmpClient qmp = QmpClient.connect(socket, Duration.ofSeconds(10))) {
            qmp.execute("device_del", QmpClient.args().put("id", "d1"));
            qmp.execute("system_reset");
        }
        Hypervisor second = factory.reattach(record("gone"), host);
        started.add(second);
        assertEquals(List.of("d0"), second.requireHotplug().list().stream().map(BlockDevice::id).toList());
        assertEquals(List.of("d0"), second.requireIoThreads().list().get(0).devices());
        assertEquals(1, TestVms.durable(record("gone")).devices().size());
    }

    @Test
    void sigkillDuringAnAttachFailsTheCallAndLeavesPoolAndStateConsistent() throws Exception {
        Hypervisor hv = start(TestVms.spec("kill", 2, IOThreadPolicy.LEAST_LOADED));
        hv.requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());
        String stateBefore = record("kill").pluginState();
        QemuState before = TestVms.durable(record("kill"));
        CompletableFuture<VmEvent> exited = new CompletableFuture<>();
        hv.subscribe(e -> {
            if (e.name().equals(VmEvent.VMM_EXITED)) {
                exited.complete(e);
            }
        });
        ProcessHandle qemu = ProcessHandle.of(record("kill").pid()).orElseThrow();
        // freeze QEMU so that the attach is surely waiting for a reply when QEMU dies
        new ProcessBuilder("kill", "-STOP", Long.toString(qemu.pid())).start().waitFor();
        CompletableFuture<Throwable> attach = new CompletableFuture<>();
        Thread caller = new Thread(() -> {
            try {
                hv.requireHotplug().attach(BlockDeviceSpec.builder("d1", BlockBackend.nullBackend()).build());
                attach.complete(null);
            } catch (Throwable t) {
                attach.complete(t);
            }
        });
        caller.start();
        await(() -> waitsForAReply(caller), "the attach waits for QEMU's reply");
        qemu.destroyForcibly();

        Throwable failure = attach.get(10, TimeUnit.SECONDS);
        VmmUnavailableException e = assertInstanceOf(VmmUnavailableException.class, failure);
        assertEquals(VmmUnavailableException.Reason.EXITED, e.reason(), "QEMU's exit, not the 10 s timeout");
        assertEquals(VmEvent.VMM_EXITED, exited.get(10, TimeUnit.SECONDS).name());
        await(() -> hv.state() == VmState.FAILED, "the VM is marked failed");
        // QMP's EOF can mark the VM failed before the JVM reaps the zombie
        await(() -> !qemu.isAlive(), "QEMU is gone");
        // the failed attach's node name stays used up (nextNode), so that it is never handed out twice
        // and the record covers the failed attach's logged intent, so no reattach settles it again
        assertEquals(before.withNextNode(2).withIntents(List.of(), before.intentLog() + 1),
                TestVms.durable(record("kill")),
                "the state file still says what QEMU confirmed, with no intent left");
        assertEquals(List.of("d0"), hv.requireHotplug().list().stream().map(BlockDevice::id).toList());
        assertEquals(List.of("d0"), TestVms.durable(record("kill")).devices().stream()
                .map(d -> d.id()).toList());

        hv.stop();
        assertTrue(host.stateStore().load("kill").isEmpty());
        assertFalse(Files.exists(tmp.resolve("run").resolve("kill")));
        assertThrows(VmmUnavailableException.class, () -> factory.reattach(
                new VmRecord("kill", "qemu", qemu.pid(), tmp.resolve("run/kill"), Instant.now(),
                        stateBefore), host));
    }

    private static <T> T assertInstanceOf(Class<T> type, Throwable t) {
        assertTrue(type.isInstance(t), "expected " + type.getSimpleName() + ", got " + t);
        return type.cast(t);
    }

    /**
     * True when {@code caller} waits in {@code QmpClient.await}: reading the socket itself (in the
     * selector's epoll wait) or parked while another thread reads.
     */
    /**
     * An operation that fails because stop() ended QEMU saves the VM's record as it gives up (an
     * attach's failed intent); when that save came after stop() had removed the record, it made
     * the runtime directory again, holding the record of a VM that is gone (SIGTERM during
     * {@code hvctl bench hotplug} left it, on Debian 13). The late save is made here by hand, with
     * the session such an operation holds: it must leave nothing behind.
     */
    @Test
    void aSaveAfterStopLeavesNoRecordBehind() throws Exception {
        Hypervisor hv = start(TestVms.spec("late", 1, IOThreadPolicy.LEAST_LOADED));
        hv.requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());
        java.lang.reflect.Field field = QemuHypervisor.class.getDeclaredField("session");
        field.setAccessible(true);
        Object session = field.get(hv);
        java.lang.reflect.Method persist = session.getClass().getDeclaredMethod("persist");
        persist.setAccessible(true);

        hv.stop();
        assertFalse(Files.exists(tmp.resolve("run").resolve("late")));
        persist.invoke(session); // what the failing operation's thread did next
        assertFalse(Files.exists(tmp.resolve("run").resolve("late")), "a save after stop made the directory again");
        assertTrue(host.stateStore().load("late").isEmpty());
    }

    private static boolean waitsForAReply(Thread caller) {
        List<StackTraceElement> stack = List.of(caller.getStackTrace());
        boolean inAwait = stack.stream()
                .anyMatch(f -> f.getMethodName().equals("await") && f.getClassName().endsWith("QmpClient"));
        boolean waiting = caller.getState() == Thread.State.TIMED_WAITING
                || (!stack.isEmpty() && stack.get(0).getClassName().endsWith("EPoll"));
        return inAwait && waiting;
    }

    @Test
    void qemuKilledRightAfterACallIsSeenThoughNoCallWaits() throws Exception {
        Hypervisor hv = start(TestVms.spec("idle-kill", 2, IOThreadPolicy.LEAST_LOADED));
        CompletableFuture<VmEvent> exited = new CompletableFuture<>();
        hv.subscribe(e -> {
            if (e.name().equals(VmEvent.VMM_EXITED)) {
                exited.complete(e);
            }
        });
        // the attach's caller reads QMP itself and sends the background reader aside; no call
        // follows, so QEMU's end is read only once that reader comes back
        hv.requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());
        ProcessHandle qemu = ProcessHandle.of(record("idle-kill").pid()).orElseThrow();
        qemu.destroyForcibly();
        assertEquals(VmEvent.VMM_EXITED, exited.get(10, TimeUnit.SECONDS).name());
        await(() -> hv.state() == VmState.FAILED, "the VM is marked failed");
    }

    @Test
    void aVmQemuCannotStartFailsWithQemusWordsAndLeavesNothing() throws Exception {
        Path notAKernel = Files.createFile(tmp.resolve("empty-kernel"));
        Hypervisor hv = factory.create(TestVms.spec("nokernel", 0, IOThreadPolicy.FIRST)
                .withGuest(Optional.of(notAKernel), Optional.empty(), "console=ttyS0"), host);
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, hv::start);
        assertEquals(VmmUnavailableException.Reason.EXITED, e.reason());
        assertTrue(e.getMessage().contains("could not load kernel"), e.getMessage());
        assertEquals(VmState.FAILED, hv.state());
        assertFalse(Files.exists(tmp.resolve("run").resolve("nokernel")));
        assertTrue(host.stateStore().load("nokernel").isEmpty());
    }

    /** default_maxvcpus as govmm passes it (qemu.go SMP.MaxCPUs): -smp 1,maxcpus=3, two vCPUs left to hotplug. */
    @Test
    void maxVcpusBecomeQemusMaxcpus() {
        QemuHypervisor hv = (QemuHypervisor) start(TestVms.spec("maxcpus", 0, IOThreadPolicy.FIRST).toBuilder()
                .vcpus(1).maxVcpus(3).build());
        com.fasterxml.jackson.databind.JsonNode slots = hv.monitorCommand("query-hotpluggable-cpus",
                QmpClient.args());
        assertEquals(3, slots.size(), slots::toString);
        int plugged = 0;
        for (com.fasterxml.jackson.databind.JsonNode slot : slots) {
            plugged += slot.has("qom-path") ? 1 : 0;
        }
        assertEquals(1, plugged, slots::toString);
    }

    @Test
    void sixtyFourRootPortsFitOnPcie0EightPerSlot() {
        QemuHypervisor hv = (QemuHypervisor) start(TestVms.spec("ports", 0, IOThreadPolicy.FIRST, "virtio-blk-pci",
                64));
        for (String port : List.of("rp0", "rp63")) {
            assertEquals("pcie-root-port", hv.monitorCommand("qom-get", QmpClient.args()
                    .put("path", "/machine/peripheral/" + port).put("property", "type")).asText());
        }
        assertEquals(Optional.of("rp0:00.0"), hv.requireHotplug().attach(
                BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build()).address());
    }

    @Test
    void anExplicitKvmOnAHostWithoutKvmIsRefusedBeforeQemuStartsWithTheWayOut() {
        org.junit.jupiter.api.Assumptions.assumeFalse(java.nio.file.Files.exists(Path.of("/dev/kvm")),
                "this host has /dev/kvm");
        ConfigException e = assertThrows(ConfigException.class,
                () -> factory.create(TestVms.spec("kvm1", 1, IOThreadPolicy.FIRST).withAccel("kvm"), host));
        assertEquals("hypervisor.qemu.accel", e.key().orElseThrow());
        assertTrue(e.getMessage().contains("/dev/kvm is missing") && e.getMessage().contains("--accel tcg"),
                e.getMessage());
        assertTrue(host.stateStore().list().isEmpty(), "create starts nothing");
    }

    @Test
    void createRefusesWhatQemuCannotRunNamingTheKey() {
        VmSpec good = TestVms.spec("bad", 1, IOThreadPolicy.FIRST);
        ConfigException machine = assertThrows(ConfigException.class, () -> factory.create(
                good.toBuilder().machineType("pc").vcpus(1).hotplugSlots(1).build(), host));
        assertEquals("hypervisor.qemu.machine_type", machine.key().orElseThrow());
        ConfigException accel = assertThrows(ConfigException.class,
                () -> factory.create(good.withAccel("hvf"), host));
        assertEquals("hypervisor.qemu.accel", accel.key().orElseThrow());
        ConfigException kernel = assertThrows(ConfigException.class, () -> factory.create(
                good.withGuest(Optional.of(tmp.resolve("no-kernel")), Optional.empty(), ""), host));
        assertEquals("hypervisor.qemu.kernel", kernel.key().orElseThrow());
        assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT, assertThrows(RequestRejectedException.class,
                () -> factory.create(good.withVmId("1vm"), host)).reason());
        assertTrue(host.stateStore().list().isEmpty(), "create starts nothing");
    }

    @Test
    void operationsBeforeStartAreRefused() {
        Hypervisor hv = factory.create(TestVms.spec("early", 2, IOThreadPolicy.FIRST), host);
        assertEquals(VmState.CREATED, hv.state());
        assertTrue(hv.supports(Capability.INDEPENDENT_IOTHREADS), "declared, narrowed by config only");
        RequestRejectedException e = assertThrows(RequestRejectedException.class,
                () -> hv.requireHotplug().list());
        assertEquals(RequestRejectedException.Reason.INVALID_STATE, e.reason());
        hv.stop();
        assertEquals(VmState.STOPPED, hv.state());
    }
}
