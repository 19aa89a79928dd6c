package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.qemu.qmp.QmpThreads;
import io.hvspi.plugin.qemu.state.DeviceState;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * SIGKILL of real QEMU 7.2 (TCG, no guest) at random points of attach, detach,
 * IOThread add and move: {@value #RUNS} runs per operation on a fresh VM each,
 * with a fixed seed. The kill comes after a random delay from the start of the
 * call, uniform over 0 .. 1.5 times the operation's median duration measured on
 * this machine first, so that kills land before, inside and after the operation's
 * QMP exchanges. Every run must end the call within its timeout with a result or
 * {@code VmmUnavailableException(EXITED)}, leave hvspi's accounting and the state
 * file consistent with what QEMU had confirmed, and leave nothing behind after
 * {@code stop()}.
 */
@Tag("faults")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class QemuFaultTest {
    private static final Logger LOG = LoggerFactory.getLogger(QemuFaultTest.class);
    static final int RUNS = 50;
    private static final long SEED = 20_260_807L;
    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration DETACH_TIMEOUT = Duration.ofSeconds(5);
    private static final String IO0 = "indep_iothread_0";
    private static final String IO1 = "indep_iothread_1";

    private final QemuHypervisorFactory factory = new QemuHypervisorFactory();
    private final ExecutorService caller = Executors.newSingleThreadExecutor(r -> new Thread(r, "fault-caller"));
    private final Map<Op, List<String>> report = new EnumMap<>(Op.class);

    @TempDir
    Path tmp;

    /** An operation under fault: how to prepare the VM, run the call, and what QEMU may have confirmed. */
    enum Op {
        ATTACH, DETACH, IOTHREAD_ADD, MOVE;

        void prepare(QemuHypervisor vm) {
            IOThreadChoice first = this == MOVE ? IOThreadChoice.named(IO0) : IOThreadChoice.byPolicy();
            vm.requireHotplug().attach(disk("d0", first));
            if (this == DETACH) {
                vm.requireHotplug().attach(disk("d1", IOThreadChoice.byPolicy()));
            }
        }

        void run(QemuHypervisor vm) {
            switch (this) {
                case ATTACH -> vm.requireHotplug().attach(disk("d1", IOThreadChoice.byPolicy()));
                case DETACH -> vm.requireHotplug().detach("d1", DETACH_TIMEOUT);
                case IOTHREAD_ADD -> vm.requireIoThreads().add("extra");
                case MOVE -> vm.requireHotplug().move("d0", IOThreadChoice.named(IO1));
            }
        }

        /** Undoes {@link #run} on a live VM, for calibration. */
        void undo(QemuHypervisor vm) {
            switch (this) {
                case ATTACH -> vm.requireHotplug().detach("d1", DETACH_TIMEOUT);
                case DETACH -> vm.requireHotplug().attach(disk("d1", IOThreadChoice.byPolicy()));
                case IOTHREAD_ADD -> vm.requireIoThreads().remove("extra");
                case MOVE -> vm.requireHotplug().move("d0", IOThreadChoice.named(IO0));
            }
        }

        /** The longest the call may take: its QMP commands' timeouts, plus the unplug wait. */
        Duration timeout() {
            return switch (this) {
                case ATTACH, IOTHREAD_ADD -> COMMAND_TIMEOUT;
                case DETACH -> DETACH_TIMEOUT;
                case MOVE -> COMMAND_TIMEOUT.plus(DeviceHotplug.DEFAULT_DETACH_TIMEOUT);
            };
        }

        /** The states QEMU may have confirmed before it died: devices with their IOThreads, and the pool. */
        String checkOutcome(boolean succeeded, Map<String, List<String>> devices, List<String> pool) {
            List<String> basePool = List.of(IO0, IO1);
            switch (this) {
                case ATTACH -> {
                    assertEquals(succeeded ? List.of("d0", "d1") : List.of("d0"), List.copyOf(devices.keySet()));
                    assertEquals(basePool, pool);
                }
                case DETACH -> {
                    if (succeeded) {
                        assertEquals(List.of("d0"), List.copyOf(devices.keySet()));
                    } else {
                        assertTrue(devices.keySet().equals(Set.of("d0", "d1"))
                                || devices.keySet().equals(Set.of("d0")), devices.toString());
                    }
                    assertEquals(basePool, pool);
                }
                case IOTHREAD_ADD -> {
                    assertEquals(List.of("d0"), List.copyOf(devices.keySet()));
                    assertEquals(succeeded ? List.of(IO0, IO1, "extra") : basePool, pool);
                }
                case MOVE -> {
                    if (succeeded) {
                        assertEquals(Map.of("d0", List.of(IO1)), devices);
                    } else {
                        // still on the old IOThread, or gone when QEMU confirmed the unplug and died before the replug
                        assertTrue(devices.equals(Map.of("d0", List.of(IO0))) || devices.isEmpty(), devices.toString());
                    }
                    assertEquals(basePool, pool);
                }
            }
            return this == IOTHREAD_ADD ? "pool " + pool : "devices " + devices;
        }
    }

    private static BlockDeviceSpec disk(String id, IOThreadChoice choice) {
        return BlockDeviceSpec.builder(id, BlockBackend.nullBackend()).ioThread(choice).build();
    }

    private DefaultHostContext host() {
        return new DefaultHostContext(tmp.resolve("run"), COMMAND_TIMEOUT, Map.of());
    }

    private QemuHypervisor startVm(DefaultHostContext host, String vmId) {
        QemuHypervisor vm = (QemuHypervisor) factory.create(TestVms.spec(vmId, 2, IOThreadPolicy.LEAST_LOADED), host);
        vm.start();
        return vm;
    }

    @AfterAll
    void printFigures() {
        caller.shutdownNow();
        report.forEach((op, lines) -> lines.forEach(l -> LOG.info("faults {}: {}", op, l)));
    }

    @Test
    void sigkillDuringAttach() throws Exception {
        runFaults(Op.ATTACH);
    }

    @Test
    void sigkillDuringDetach() throws Exception {
        runFaults(Op.DETACH);
    }

    @Test
    void sigkillDuringIOThreadAdd() throws Exception {
        runFaults(Op.IOTHREAD_ADD);
    }

    @Test
    void sigkillDuringMove() throws Exception {
        runFaults(Op.MOVE);
    }

    /** The operation's median duration on a live VM, in nanoseconds. */
    private long calibrate(Op op) {
        DefaultHostContext host = host();
        QemuHypervisor vm = startVm(host, "calib");
        try {
            op.prepare(vm);
            List<Long> times = new ArrayList<>();
            for (int i = 0; i < 7; i++) {
                long t0 = System.nanoTime();
                op.run(vm);
                times.add(System.nanoTime() - t0);
                op.undo(vm);
            }
            Collections.sort(times);
            return times.get(times.size() / 2);
        } finally {
            vm.stop();
        }
    }

    private void runFaults(Op op) throws Exception {
        long median = calibrate(op);
        long window = Math.max(TimeUnit.MICROSECONDS.toNanos(500), median * 3 / 2);
        Random random = new Random(SEED + op.ordinal());
        DefaultHostContext host = host();
        int baselineReaders = readerThreads();
        int baselineThreads = QmpThreads.count();
        List<Long> errorAfterKill = new ArrayList<>();
        List<Long> callTimes = new ArrayList<>();
        int succeeded = 0;
        Map<String, Integer> outcomes = new TreeMap<>();
        long wall = System.nanoTime();
        for (int run = 0; run < RUNS; run++) {
            String vmId = "f" + op.ordinal() + "-" + run;
            QemuHypervisor vm = startVm(host, vmId);
            VmRecord record = host.stateStore().load(vmId).orElseThrow();
            ProcessHandle qemu = ProcessHandle.of(record.pid()).orElseThrow();
            try {
                op.prepare(vm);
                long delay = (long) (random.nextDouble() * window);
                long start = System.nanoTime();
                CompletableFuture<Void> call = CompletableFuture.runAsync(() -> op.run(vm), caller);
                LockSupport.parkNanos(delay);
                qemu.destroyForcibly();
                long killed = System.nanoTime();
                Throwable failure = null;
                try {
                    call.get(op.timeout().toMillis() + 2_000, TimeUnit.MILLISECONDS);
                } catch (ExecutionException e) {
                    failure = e.getCause();
                } catch (TimeoutException e) {
                    fail(op + " run " + run + ": the call hung past its timeout of " + op.timeout().toMillis() + " ms");
                }
                long end = System.nanoTime();
                callTimes.add(end - start);
                assertTrue(end - start <= op.timeout().toNanos(), op + " run " + run + " took "
                        + (end - start) / 1_000_000 + " ms");
                if (failure == null) {
                    succeeded++;
                } else {
                    if (!(failure instanceof VmmUnavailableException u)
                            || u.reason() != VmmUnavailableException.Reason.EXITED) {
                        throw new AssertionError(op + " run " + run + " (kill after " + delay / 1000 + " us): expected"
                                + " a result or VmmUnavailableException(EXITED), got " + failure, failure);
                    }
                    errorAfterKill.add(end - killed);
                }
                assertTrue(qemu.onExit().get(5, TimeUnit.SECONDS) != null);
                outcomes.merge(checkConsistent(op, failure == null, vm, host, vmId, run), 1, Integer::sum);
            } finally {
                vm.stop();
            }
            assertNothingLeft(host, record, qemu);
            awaitReaders(baselineReaders);
        }
        wall = System.nanoTime() - wall;
        QmpThreads.awaitAtMost(baselineThreads, op + ": reader, event and late-reply threads after " + RUNS + " runs");
        Collections.sort(errorAfterKill);
        Collections.sort(callTimes);
        report.put(op, List.of(String.format("%d runs in %d ms (fresh QEMU each), kill window 0..%.2f ms"
                        + " (median op %.2f ms); %d returned a result, %d failed with EXITED",
                RUNS, wall / 1_000_000, window / 1e6, median / 1e6, succeeded, RUNS - succeeded),
                String.format("kill to error: median %.2f ms, max %.2f ms; call time: median %.2f ms, max %.2f ms",
                        ms(percentile(errorAfterKill, 50)), ms(percentile(errorAfterKill, 100)),
                        ms(percentile(callTimes, 50)), ms(percentile(callTimes, 100))),
                "recorded after the kill: " + outcomes));
    }

    /** After QEMU died: the state file parses and says what hvspi's accounting says, and nothing is reserved. */
    private static String checkConsistent(Op op, boolean succeeded, QemuHypervisor vm, DefaultHostContext host,
                                        String vmId, int run) {
        QemuHypervisor.Accounting books = awaitSettled(vm);
        QemuState saved = TestVms.durable(host.stateStore().load(vmId).orElseThrow());
        String where = op + " run " + run + " (" + (succeeded ? "returned" : "failed") + ")";
        assertEquals(books.devices(), saved.devices(), where + ": state file and accounting");
        assertEquals(books.ioThreads(), saved.ioThreads(), where + ": IOThreads in the state file");
        assertEquals(Map.of(), books.reservations(), where + ": an IOThread reservation leaked");
        assertEquals(List.of(), books.inFlight(), where + ": a root port reservation leaked");
        Map<String, List<String>> devices = new LinkedHashMap<>();
        saved.devices().forEach(d -> devices.put(d.id(), d.ioThreads()));
        assertEquals(devices, books.assignments(), where + ": pool assignments and devices");
        assertEquals(vm.requireHotplug().list().stream().map(BlockDevice::id).toList(), List.copyOf(devices.keySet()));
        List<String> ports = saved.devices().stream().map(DeviceState::bus).toList();
        assertEquals(ports.size(), ports.stream().distinct().count(), where + ": two devices on one root port");
        try {
            return (succeeded ? "returned, " : "EXITED, ") + op.checkOutcome(succeeded, devices,
                    saved.ioThreads().stream().map(QemuState.IOThreadState::id).toList());
        } catch (AssertionError e) {
            throw new AssertionError(where + ": " + e.getMessage(), e);
        }
    }

    /** Work that QEMU's death ends (event handlers, a detach's completion) may still be running: wait for it. */
    private static QemuHypervisor.Accounting awaitSettled(QemuHypervisor vm) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        QemuHypervisor.Accounting books = vm.accounting();
        while ((!books.reservations().isEmpty() || !books.inFlight().isEmpty()) && System.nanoTime() < deadline) {
            LockSupport.parkNanos(1_000_000);
            books = vm.accounting();
        }
        return books;
    }

    private static void assertNothingLeft(DefaultHostContext host, VmRecord record, ProcessHandle qemu)
            throws Exception {
        assertFalse(qemu.isAlive());
        assertFalse(Files.exists(record.runtimeDir()), "runtime dir " + record.runtimeDir() + " is left");
        assertTrue(host.stateStore().load(record.vmId()).isEmpty(), "state record is left");
        try (Stream<Path> left = Files.list(host.runtimeRoot())) {
            assertEquals(List.of(), left.toList(), "left in the runtime root");
        }
    }

    static int readerThreads() {
        return (int) Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().startsWith("json-line-reader")).count();
    }

    private static void awaitReaders(int baseline) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (readerThreads() > baseline) {
            if (System.nanoTime() > deadline) {
                fail("QMP reader threads leaked: " + readerThreads() + " alive, " + baseline + " before");
            }
            LockSupport.parkNanos(1_000_000);
        }
    }

    private static long percentile(List<Long> sorted, int p) {
        if (sorted.isEmpty()) {
            return 0;
        }
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p / 100.0 * sorted.size()) - (p == 0 ? 0 : 1)));
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }
}
