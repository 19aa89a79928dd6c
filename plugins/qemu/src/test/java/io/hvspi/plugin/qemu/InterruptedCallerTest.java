package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmState;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hosts interrupt their threads (an executor's {@code shutdownNow}, {@code cancel(true)},
 * a structured scope cancelling its other subtasks): a call from an interrupted thread
 * must neither break the VM's QMP connection nor leave the accounting unsure of what
 * QEMU did. The QMP socket is an NIO channel, which closes itself when a thread blocked
 * on it is interrupted; found by {@code hvctl bench scale} stopping its hotplug workers.
 */
class InterruptedCallerTest {
    private final QemuHypervisorFactory factory = new QemuHypervisorFactory();
    private DefaultHostContext host;
    private Hypervisor vm;

    @TempDir
    Path tmp;

    @BeforeEach
    void start() {
        host = TestVms.host(tmp);
        vm = factory.create(TestVms.spec("intr", 2, IOThreadPolicy.LEAST_LOADED), host);
        vm.start();
    }

    @AfterEach
    void stop() {
        Thread.interrupted();
        VmRecord record = host.stateStore().load("intr").orElse(null);
        try {
            vm.stop();
        } finally {
            if (record != null) {
                ProcessHandle.of(record.pid()).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
    }

    @Test
    void anAttachFromAnInterruptedThreadCompletesAndTheConnectionStays() {
        Thread.currentThread().interrupt();
        BlockDevice d0 = vm.requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());
        assertTrue(Thread.interrupted(), "the interrupt is kept for the caller to act on");
        assertEquals(List.of("indep_iothread_0"), d0.ioThreads());
        assertNotEquals(VmState.FAILED, vm.state());
        vm.requireHotplug().attach(BlockDeviceSpec.builder("d1", BlockBackend.nullBackend()).build());
        assertEquals(List.of("d0", "d1"), vm.requireHotplug().list().stream().map(BlockDevice::id).toList());
    }

    /**
     * A move's unplug is under way in QEMU once device_del went out: a move from an interrupted
     * thread waits for it as any call does, and plugs the disk in on the target. It used to give up
     * at once, take the unplug for a refused one, and lose the disk when DEVICE_DELETED came.
     */
    @Test
    void aMoveFromAnInterruptedThreadKeepsTheDisk() {
        vm.requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend())
                .ioThread(IOThreadChoice.named("indep_iothread_0")).build());
        Thread.currentThread().interrupt();
        BlockDevice moved = vm.requireHotplug().move("d0", IOThreadChoice.named("indep_iothread_1"));
        assertTrue(Thread.interrupted(), "the interrupt is kept for the caller to act on");
        assertEquals(List.of("indep_iothread_1"), moved.ioThreads());
        QemuHypervisor q = (QemuHypervisor) vm;
        // DEVICE_DELETED of the unplug, had it been left behind, would arrive now
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(500));
        assertEquals(List.of("d0"), vm.requireHotplug().list().stream().map(BlockDevice::id).toList());
        assertEquals(List.of("indep_iothread_1"), vm.requireHotplug().list().get(0).ioThreads());
        assertTrue(QemuTruth.devices(q).get("d0").contains(" indep_iothread_1 "), String.valueOf(QemuTruth.devices(q)));
        QemuTruth.assertRecordEqualsQemu(q, TestVms.durable(host.stateStore().load("intr").orElseThrow()),
                "after the move");
    }

    @Test
    void stopFromAnInterruptedThreadEndsQemuAndLeavesNothing() {
        VmRecord record = host.stateStore().load("intr").orElseThrow();
        Thread.currentThread().interrupt();
        vm.stop();
        assertTrue(Thread.interrupted(), "the interrupt is kept for the caller to act on");
        assertEquals(VmState.STOPPED, vm.state());
        assertFalse(ProcessHandle.of(record.pid()).map(ProcessHandle::isAlive).orElse(false));
        assertFalse(Files.exists(record.runtimeDir()));
        assertTrue(host.stateStore().load("intr").isEmpty());
    }
}
