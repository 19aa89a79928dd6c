package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.qemu.state.DeviceState;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * SIGKILL of the hvspi process (not of QEMU) at random points of attach, detach,
 * move, IOThread add and IOThread removal: a child JVM ({@link ChildOperation})
 * reattaches from the record as {@code hvctl} does, prints {@code ready}, and runs
 * the operation; the test kills it after a random delay, uniform over 0 to 1.5
 * times the operation's duration in such a child (measured first), with a fixed
 * seed. The next reattach, in this JVM, must settle the intent the child left and
 * make the record equal QEMU (devices with their root port, IOThread and block
 * node; hvspi's nodes; IOThreads), and no disk may be lost. One QEMU per operation
 * kind serves all its runs.
 */
@Tag("faults")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CrossProcessFaultTest {
    private static final Logger LOG = LoggerFactory.getLogger(CrossProcessFaultTest.class);
    static final int RUNS = 20;
    private static final long SEED = 20_261_204L;
    private static final String IO0 = ChildOperation.IO0;
    private static final String IO1 = ChildOperation.IO1;

    @TempDir
    Path tmp;

    private final List<String> report = new ArrayList<>();

    enum Op {
        ATTACH("attach"), DETACH("detach"), MOVE("move"), IOTHREAD_ADD("iothread-add"),
        IOTHREAD_REMOVE("iothread-remove");

        final String arg;

        Op(String arg) {
            this.arg = arg;
        }

        /** Brings the VM to where the operation can run again: its precondition. */
        void prepare(QemuHypervisor vm) {
            boolean hasDisk = vm.requireHotplug().list().stream().anyMatch(d -> d.id().equals(ChildOperation.DISK));
            boolean hasExtra = vm.requireIoThreads().list().stream().anyMatch(t -> t.id().equals(ChildOperation.EXTRA));
            switch (this) {
                case ATTACH -> {
                    if (hasDisk) {
                        vm.requireHotplug().detach(ChildOperation.DISK, Duration.ofSeconds(5));
                    }
                }
                case DETACH -> {
                    if (!hasDisk) {
                        vm.requireHotplug().attach(BlockDeviceSpec.builder(ChildOperation.DISK,
                                BlockBackend.nullBackend()).build());
                    }
                }
                case IOTHREAD_ADD -> {
                    if (hasExtra) {
                        vm.requireIoThreads().remove(ChildOperation.EXTRA);
                    }
                }
                case IOTHREAD_REMOVE -> {
                    if (!hasExtra) {
                        vm.requireIoThreads().add(ChildOperation.EXTRA);
                    }
                }
                case MOVE -> { }
            }
        }
    }

    private DefaultHostContext host() {
        return new DefaultHostContext(tmp.resolve("run"), Duration.ofSeconds(5), Map.of());
    }

    @AfterAll
    void printFigures() {
        report.forEach(l -> LOG.info("cross-process faults: {}", l));
    }

    @ParameterizedTest
    @EnumSource(Op.class)
    void sigkillOfTheHvspiProcess(Op op) throws Exception {
        DefaultHostContext host = host();
        String vmId = "x-" + op.arg;
        QemuHypervisor first = (QemuHypervisor) new QemuHypervisorFactory()
                .create(TestVms.spec(vmId, 2, IOThreadPolicy.LEAST_LOADED), host);
        first.start();
        first.requireHotplug().attach(BlockDeviceSpec.builder(ChildOperation.MOVED, BlockBackend.nullBackend())
                .ioThread(IOThreadChoice.named(IO0)).build());
        first.close();
        VmRecord record = host.stateStore().load(vmId).orElseThrow();
        ProcessHandle qemu = ProcessHandle.of(record.pid()).orElseThrow();
        Path log = tmp.resolve(op.arg + ".log");
        try {
            long median = calibrate(host, vmId, op, log);
            long window = median * 3 / 2;
            Random random = new Random(SEED + op.ordinal());
            Map<String, Integer> outcomes = new TreeMap<>();
            for (int run = 0; run < RUNS; run++) {
                String where = op + " run " + run;
                onVm(host, vmId, op::prepare);
                long delay = (long) (random.nextDouble() * window);
                boolean finished;
                try (ChildJvm child = ChildJvm.start(host.runtimeRoot(), vmId, op.arg, log, false)) {
                    assertTrue(child.awaitLine("ready", 60_000), where + ": the child did not reattach (see " + log
                            + ")");
                    LockSupport.parkNanos(delay);
                    child.kill();
                    finished = child.awaitLine("done", 0);
                }
                String outcome = withVm(host, vmId, vm -> {
                    QemuState saved = TestVms.durable(host.stateStore().load(vmId).orElseThrow());
                    QemuTruth.assertRecordEqualsQemu(vm, saved, where);
                    assertEquals(saved.devices(), vm.accounting().devices(), where + ": accounting and record");
                    DeviceState d0 = saved.devices().stream().filter(d -> d.id().equals(ChildOperation.MOVED))
                            .findFirst().orElseThrow(() -> new AssertionError(where + ": disk d0 was lost"));
                    assertEquals("hvspi-node0", d0.nodeName(), where + ": d0 is on its own block node still");
                    return (finished ? "done; " : "killed; ") + switch (op) {
                        case ATTACH, DETACH -> "d1 " + (saved.devices().size() == 2 ? "attached" : "absent");
                        case MOVE -> "d0 on " + d0.ioThreads();
                        case IOTHREAD_ADD, IOTHREAD_REMOVE -> "extra " + (saved.ioThreads().stream()
                                .anyMatch(t -> t.id().equals(ChildOperation.EXTRA)) ? "present" : "absent");
                    } + (vm.reconciliation().isEmpty() ? "" : "; settled on reattach");
                });
                outcomes.merge(outcome, 1, Integer::sum);
                assertTrue(qemu.isAlive(), where + ": QEMU died");
            }
            report.add(String.format("%s: %d runs, kill window 0..%.1f ms after the child's ready (median op %.1f ms"
                    + " in a fresh child): %s", op, RUNS, window / 1e6, median / 1e6, outcomes));
        } finally {
            withVm(host, vmId, vm -> {
                vm.stop();
                return null;
            });
        }
        assertTrue(qemu.onExit().get(10, TimeUnit.SECONDS) != null);
        assertFalse(Files.exists(record.runtimeDir()), "runtime directory left");
    }

    /** The operation's median duration in a child that is not killed, from its ready to its done. */
    private long calibrate(DefaultHostContext host, String vmId, Op op, Path log) throws Exception {
        List<Long> times = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            onVm(host, vmId, op::prepare);
            try (ChildJvm child = ChildJvm.start(host.runtimeRoot(), vmId, op.arg, log, false)) {
                assertTrue(child.awaitLine("ready", 60_000), "calibration: the child did not reattach (see " + log
                        + ")");
                long t0 = System.nanoTime();
                assertTrue(child.awaitLine("done", 60_000), "calibration: the child failed (see " + log + ")");
                times.add(System.nanoTime() - t0);
                assertEquals(0, child.waitFor());
            }
        }
        Collections.sort(times);
        return times.get(times.size() / 2);
    }

    private interface VmAction<T> {
        T run(QemuHypervisor vm) throws Exception;
    }

    private static <T> T withVm(DefaultHostContext host, String vmId, VmAction<T> action) throws Exception {
        VmRecord record = host.stateStore().load(vmId).orElseThrow();
        try (QemuHypervisor vm = QemuHypervisor.reattach(record, host)) {
            return action.run(vm);
        }
    }

    private static void onVm(DefaultHostContext host, String vmId, java.util.function.Consumer<QemuHypervisor> a)
            throws Exception {
        withVm(host, vmId, vm -> {
            a.accept(vm);
            return null;
        });
    }
}
