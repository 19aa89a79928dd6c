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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
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

    private static VmSpec spec() {
        return VmSpec.builder().vmId("vm1").hypervisorType("fake").binary(Path.of("/bin/true")).build();
    }

    private void assertNothingLeft() throws InterruptedException {
        assertTrue(qemu.get().waitFor(10, TimeUnit.SECONDS), "the VMM still runs");
        assertTrue(host.context().stateStore().load("vm1").isEmpty(), "the record is gone");
        assertFalse(Files.exists(root.resolve("vm1")), "the runtime directory is gone");
        VmLock.acquire(root, "vm1", Duration.ofMillis(1)).close();
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
