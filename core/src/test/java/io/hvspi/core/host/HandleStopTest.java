package io.hvspi.core.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.Mockito.doAnswer;
import static org.mockito.Mockito.doReturn;
import static org.mockito.Mockito.doThrow;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import io.hvspi.core.plugin.PluginRegistry;
import io.hvspi.core.state.TestProcesses;
import io.hvspi.core.state.VmLock;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A handle's stop when the plugin's stop fails or never returns: the host ends the VM's VMM (a
 * real QEMU the mocked plugin started) by signal, as {@code host.stop(id)} does, so closing a
 * handle never leaks a VM; and the close's other failures.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HandleStopTest {
    private static final Duration COMMAND_TIMEOUT = Duration.ofMillis(500);

    @TempDir
    Path tmp;

    private final PluginRegistry registry = mock(PluginRegistry.class);
    private final HypervisorFactory factory = mock(HypervisorFactory.class);
    private final Hypervisor vm = mock(Hypervisor.class);
    private final AtomicReference<Process> qemu = new AtomicReference<>();
    private Path root;
    private HvspiHost host;

    @BeforeEach
    void setUp() {
        root = tmp.resolve("run").toAbsolutePath();
        when(registry.factory("fake")).thenReturn(factory);
        when(vm.vmId()).thenReturn("vm1");
        when(vm.type()).thenReturn("fake");
        startsAQemu(null);
        host = HvspiHost.builder().plugins(registry).runtimeRoot(root).commandTimeout(COMMAND_TIMEOUT).build();
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        host.close();
        if (qemu.get() != null) {
            TestProcesses.kill(qemu.get());
        }
    }

    /**
     * The plugin's start: a runtime directory, a real VMM naming it, a record; then it throws
     * {@code failure} when there is one.
     */
    private void startsAQemu(RuntimeException failure) {
        when(factory.create(any(), any())).thenAnswer(create -> {
            HostContext context = create.getArgument(1);
            doAnswer(start -> {
                Path dir = context.createRuntimeDir("vm1");
                qemu.set(TestProcesses.qemu(dir));
                context.stateStore().save(new VmRecord("vm1", "fake", qemu.get().pid(), dir, Instant.now(), "{}"));
                if (failure != null) {
                    throw failure;
                }
                return null;
            }).when(vm).start();
            return vm;
        });
    }

    /** The plugin's stop, done right: its VMM ended, its record and directory removed. */
    private void stopsItsVm() {
        doAnswer(stop -> {
            TestProcesses.kill(qemu.get());
            host.context().stateStore().remove("vm1");
            host.context().removeRuntimeDir("vm1");
            return null;
        }).when(vm).stop();
    }

    private static VmSpec spec() {
        return VmSpec.builder().vmId("vm1").hypervisorType("fake").binary(Path.of("/bin/true")).build();
    }

    private void assertNothingLeft() throws InterruptedException {
        assertTrue(qemu.get().waitFor(10, TimeUnit.SECONDS), "the VMM still runs");
        assertTrue(host.context().stateStore().load("vm1").isEmpty(), "the record is gone");
        assertFalse(Files.exists(root.resolve("vm1")), "the runtime directory is gone");
        VmLock.acquire(root, "vm1", Duration.ofSeconds(5)).close();
    }

    @Test
    void aPluginStopThatThrowsHasItsVmmEndedBySignalAndTheCloseSucceeds() throws Exception {
        doThrow(new IllegalStateException("plugin bug in stop")).when(vm).stop();
        host.start(spec()).close();
        assertNothingLeft();
        verify(vm).close();
    }

    @Test
    void aPluginStopThatNeverReturnsIsAbandonedAndItsVmmEnded() throws Exception {
        doAnswer(stop -> {
            new CountDownLatch(1).await();
            return null;
        }).when(vm).stop();
        long began = System.nanoTime();
        host.start(spec()).close();
        assertNothingLeft();
        assertTrue(System.nanoTime() - began < COMMAND_TIMEOUT.multipliedBy(3 + 2 + 20).toNanos(),
                "the close is bounded by the plugin's stop timeout and the signals' grace");
    }

    /**
     * A stop abandoned past its bound still runs and removes the VM's record and directory when it
     * returns: the VM's lock stays held until then, so a new VM of the same id waits for it instead
     * of losing its record to it (which would leak that VM).
     */
    @Test
    void anAbandonedStopKeepsTheVmsLockUntilItReturns() throws Exception {
        host.close();
        host = HvspiHost.builder().plugins(registry).runtimeRoot(root).commandTimeout(COMMAND_TIMEOUT)
                .lockTimeout(Duration.ofSeconds(60)).build();
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch lateStopDone = new CountDownLatch(1);
        AtomicInteger stops = new AtomicInteger();
        doAnswer(stop -> {
            boolean late = stops.getAndIncrement() == 0;
            if (late) {
                awaitIgnoringInterrupts(release); // past its bound: the host interrupts it and goes on
            } else {
                TestProcesses.kill(qemu.get());
            }
            host.context().stateStore().remove("vm1");
            host.context().removeRuntimeDir("vm1");
            if (late) {
                lateStopDone.countDown();
            }
            return null;
        }).when(vm).stop();
        VmHandle abandoned = host.start(spec());
        Process first = qemu.get();
        abandoned.close();
        assertTrue(first.waitFor(10, TimeUnit.SECONDS), "the abandoned stop's VMM was ended by signal");
        VmmUnavailableException held = assertThrows(VmmUnavailableException.class,
                () -> VmLock.acquire(root, "vm1", Duration.ofMillis(50)));
        assertTrue(held.getMessage().contains("the fake plugin's stop of VM 'vm1', which has not returned"),
                held.getMessage());

        CompletableFuture<VmHandle> second = new CompletableFuture<>();
        Thread starter = Thread.ofPlatform().start(() -> {
            try {
                second.complete(host.start(spec()));
            } catch (Throwable failure) {
                second.completeExceptionally(failure);
            }
        });
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        // the new start waits for the lock (or, were the lock released, has recorded its VM)
        while (!waitsForALock(starter) && host.context().stateStore().load("vm1").isEmpty()) {
            assertTrue(System.nanoTime() < deadline, "the second start neither waited nor started");
            Thread.onSpinWait();
        }
        release.countDown();
        assertTrue(lateStopDone.await(30, TimeUnit.SECONDS));
        try (VmHandle handle = second.get(30, TimeUnit.SECONDS)) {
            assertTrue(host.context().stateStore().load("vm1").isPresent(), "the new VM's record is kept");
            assertTrue(Files.isDirectory(root.resolve("vm1")), "the new VM's directory is kept");
            assertTrue(qemu.get().isAlive(), "the new VM runs");
        }
        assertNothingLeft();
    }

    private static boolean waitsForALock(Thread t) {
        for (StackTraceElement frame : t.getStackTrace()) {
            if (frame.getClassName().equals(VmLock.class.getName())) {
                return t.getState() == Thread.State.TIMED_WAITING;
            }
        }
        return false;
    }

    private static void awaitIgnoringInterrupts(CountDownLatch latch) {
        while (true) {
            try {
                latch.await();
                return;
            } catch (InterruptedException ignored) {
                // a stop that does not give up when interrupted
            }
        }
    }

    /** The handle never asks the plugin who it is to stop it: a plugin failing there still has its VM stopped. */
    @Test
    void aPluginThatCannotSayItsIdOrTypeAfterStartIsStillStopped() throws Exception {
        stopsItsVm();
        VmHandle handle = host.start(spec());
        when(vm.vmId()).thenThrow(new IllegalStateException("plugin bug in vmId"));
        when(vm.type()).thenThrow(new IllegalStateException("plugin bug in type"));
        assertEquals("vm1", handle.vmId());
        assertEquals("fake", handle.type());
        handle.close();
        assertNothingLeft();
    }

    /** An Error in the plugin's stop does not skip the signals; the JVM's own trouble is still thrown after. */
    @Test
    void aPluginStopThatRunsOutOfMemoryHasItsVmmEndedAndTheErrorThrown() throws Exception {
        OutOfMemoryError oom = new OutOfMemoryError("plugin's stop");
        doThrow(oom).when(vm).stop();
        VmHandle handle = host.start(spec());
        assertSame(oom, assertThrows(OutOfMemoryError.class, handle::close));
        assertNothingLeft();
    }

    /** A plugin's close (the disconnect) that never returns is given up on; the lock is released. */
    @Test
    void aCloseThatNeverReturnsIsBoundedAndReleasesTheLock() throws Exception {
        stopsItsVm();
        CountDownLatch never = new CountDownLatch(1);
        doAnswer(close -> {
            never.await();
            return null;
        }).when(vm).close();
        VmHandle handle = host.start(spec());
        VmmUnavailableException timedOut = assertThrows(VmmUnavailableException.class, handle::close);
        assertTrue(timedOut.getMessage().contains("fake plugin's close of VM 'vm1'"), timedOut.getMessage());
        assertNothingLeft();
    }

    @Test
    void aStartThatFailsAndAStopThatFailsStillLeaveNoVmm() throws Exception {
        IllegalStateException startFailure = new IllegalStateException("start failed after the spawn");
        startsAQemu(startFailure);
        doThrow(new IllegalStateException("and stop failed too")).when(vm).stop();
        assertSame(startFailure, assertThrows(IllegalStateException.class, () -> host.start(spec())));
        assertNothingLeft();
    }

    @Test
    void aFailedStopWithNoVmmHereIsThrownAndTheRecordKept() {
        doReturn(vm).when(factory).create(any(), any()); // a plugin whose VMM runs elsewhere: no process here
        doAnswer(start -> {
            host.context().stateStore().save(new VmRecord("vm1", "fake", 0, host.context().createRuntimeDir("vm1"),
                    Instant.now(), "{}"));
            return null;
        }).when(vm).start();
        VmmUnavailableException failure = new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT,
                "the remote VMM did not answer");
        doThrow(failure).when(vm).stop();
        VmHandle handle = host.start(spec());
        assertSame(failure, assertThrows(VmmUnavailableException.class, handle::close));
        assertTrue(host.context().stateStore().load("vm1").isPresent(), "kept for a later stop");
        VmLock.acquire(root, "vm1", Duration.ofMillis(1)).close();
    }

    /** A stop that kept the record leaves the VM running for the handle: whileRunning was refused for good. */
    @Test
    void aFailedStopThatKeptTheRecordLeavesTheHandleRunningAndALaterStopRetries() {
        doReturn(vm).when(factory).create(any(), any());
        doAnswer(start -> {
            host.context().stateStore().save(new VmRecord("vm1", "fake", 0, host.context().createRuntimeDir("vm1"),
                    Instant.now(), "{}"));
            return null;
        }).when(vm).start();
        doThrow(new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT, "the remote VMM did not answer"))
                .doNothing().when(vm).stop();
        VmHandle handle = host.start(spec());
        assertThrows(VmmUnavailableException.class, handle::stop);
        assertEquals("ran", handle.whileRunning(() -> "ran"), "running again for this handle");
        handle.stop();
        org.mockito.Mockito.verify(vm, org.mockito.Mockito.times(2)).stop();
        assertThrows(io.hvspi.spi.RequestRejectedException.class, () -> handle.whileRunning(() -> "ran"));
        handle.close();
    }

    @Test
    void aDisconnectThatFailsDoesNotHideTheStopsFailure() {
        doReturn(vm).when(factory).create(any(), any());
        HvspiException stopFailure = new HvspiException("stop failed");
        doThrow(stopFailure).when(vm).stop();
        doThrow(new IllegalStateException("close failed")).when(vm).close();
        VmHandle handle = host.start(spec());
        HvspiException thrown = assertThrows(HvspiException.class, handle::close);
        assertSame(stopFailure, thrown);
        assertEquals("close failed", thrown.getSuppressed()[0].getMessage());
        VmLock.acquire(root, "vm1", Duration.ofMillis(1)).close();
    }

    @Test
    void closeFromInsideWhileRunningIsRefusedAndTheHandleStaysOpen() {
        doReturn(vm).when(factory).create(any(), any());
        VmHandle handle = host.start(spec());
        IllegalStateException refused = handle.whileRunning(() -> assertThrows(IllegalStateException.class,
                handle::close));
        assertTrue(refused.getMessage().contains("whileRunning"), refused.getMessage());
        verify(vm, never()).stop();
        assertTrue(StopOnExit.watched().contains(handle), "still stopped on exit");
        handle.close();
        verify(vm).stop();
        assertFalse(StopOnExit.watched().contains(handle));
    }
}
