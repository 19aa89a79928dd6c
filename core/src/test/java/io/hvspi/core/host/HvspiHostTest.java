package io.hvspi.core.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.Mockito.doAnswer;
import static org.mockito.Mockito.doThrow;
import static org.mockito.Mockito.inOrder;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.times;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import io.hvspi.core.plugin.PluginRegistry;
import io.hvspi.core.state.VmLock;
import io.hvspi.core.state.VmStopper;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mockito.InOrder;

/** The host API's own logic, against mocked plugins: the factory and the VM are the seam. */
class HvspiHostTest {
    private static final Duration SHORT = Duration.ofMillis(200);

    @TempDir
    Path root;

    private final PluginRegistry registry = mock(PluginRegistry.class);
    private final HypervisorFactory factory = mock(HypervisorFactory.class);
    private final Hypervisor vm = mock(Hypervisor.class);
    private HvspiHost host;

    @BeforeEach
    void setUp() {
        when(registry.factory("fake")).thenReturn(factory);
        when(factory.create(any(), any())).thenReturn(vm);
        when(vm.vmId()).thenReturn("vm1");
        when(vm.type()).thenReturn("fake");
        host = newHost();
    }

    @AfterEach
    void tearDown() {
        host.close();
    }

    private HvspiHost newHost() {
        return HvspiHost.builder().plugins(registry).runtimeRoot(root).lockTimeout(SHORT).build();
    }

    private static VmSpec spec(String vmId) {
        return VmSpec.builder().vmId(vmId).hypervisorType("fake").binary(Path.of("/bin/true")).build();
    }

    /** The lock is free when another taker gets it at once. */
    private void assertUnlocked(String vmId) {
        VmLock.acquire(root, vmId, Duration.ofMillis(1)).close();
    }

    /** A follower's plugin thread must end before the plugins' class loaders are closed. */
    @Test
    void closingTheHostClosesTheSubscriptionsFollowGaveOut() {
        host.context().stateStore().save(new VmRecord("vm1", "fake", 0, host.context().createRuntimeDir("vm1"),
                Instant.now(), "{}"));
        Hypervisor.Subscription plugins = mock(Hypervisor.Subscription.class);
        List<java.util.function.Consumer<io.hvspi.spi.VmEvent>> listeners = new java.util.ArrayList<>();
        when(factory.follow(any(), any(), any())).thenAnswer(follow -> {
            listeners.add(follow.getArgument(2));
            return plugins;
        });
        Hypervisor.Subscription closedEarly = host.follow("vm1", event -> { });
        host.follow("vm1", event -> { });
        host.follow("vm1", event -> { }); // ends by itself: its VMM exits
        listeners.get(2).accept(new io.hvspi.spi.VmEvent(io.hvspi.spi.VmEvent.VMM_EXITED, Instant.now(), Map.of()));
        closedEarly.close();
        verify(plugins, times(1)).close();
        host.close();
        verify(plugins, times(2)).close(); // the one still following; the ended one is not kept
    }

    @Test
    void createThatThrowsLeavesTheLockFreeAndNothingWatched() {
        when(factory.create(any(), any())).thenThrow(new NullPointerException("plugin bug"));
        assertThrows(NullPointerException.class, () -> host.start(spec("vm1")));
        assertUnlocked("vm1");
        assertTrue(StopOnExit.watched().stream().noneMatch(h -> h.vmId().equals("vm1")));
    }

    @Test
    void startThatThrowsStopsWhatThePluginBeganAndRethrows() {
        IllegalStateException failure = new IllegalStateException("spawn failed");
        doThrow(failure).when(vm).start();
        IllegalStateException thrown = assertThrows(IllegalStateException.class, () -> host.start(spec("vm1")));
        assertSame(failure, thrown);
        InOrder order = inOrder(vm);
        order.verify(vm).start();
        order.verify(vm).stop();
        order.verify(vm).close();
        assertUnlocked("vm1");
    }

    @Test
    void aStopThatFailsAfterAFailedStartIsKeptAsSuppressed() {
        doThrow(new IllegalStateException("spawn failed")).when(vm).start();
        doThrow(new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT, "no answer")).when(vm).stop();
        IllegalStateException thrown = assertThrows(IllegalStateException.class, () -> host.start(spec("vm1")));
        assertEquals("no answer", thrown.getSuppressed()[0].getMessage());
        verify(vm).close();
        assertUnlocked("vm1");
    }

    @Test
    void anExceptionLeavingTryWithResourcesStopsTheVm() {
        assertThrows(IllegalArgumentException.class, () -> {
            try (VmHandle handle = host.start(spec("vm1"))) {
                assertTrue(StopOnExit.watched().contains(handle), "watched while open");
                throw new IllegalArgumentException("embedder's bug");
            }
        });
        InOrder order = inOrder(vm);
        order.verify(vm).start();
        order.verify(vm).stop();
        order.verify(vm).close();
        assertUnlocked("vm1");
    }

    @Test
    void aKeptVmOnlyDisconnectsAndIsNotStoppedOnExit() {
        VmHandle handle = host.start(spec("vm1"));
        handle.keepRunning();
        assertFalse(StopOnExit.watched().contains(handle));
        handle.close();
        verify(vm, never()).stop();
        verify(vm).close();
        assertUnlocked("vm1");
    }

    @Test
    void theLockIsHeldFromStartUntilClose() {
        try (VmHandle handle = host.start(spec("vm1"))) {
            VmmUnavailableException busy = assertThrows(VmmUnavailableException.class,
                    () -> VmLock.acquire(root, "vm1", SHORT));
            assertEquals(VmmUnavailableException.Reason.TIMED_OUT, busy.reason());
            assertEquals("vm1", handle.vmId());
        }
        assertUnlocked("vm1");
    }

    @Test
    void aSecondHostWaitingForTheLockGivesUpWithTheHoldersPid() {
        try (VmHandle ignored = host.start(spec("vm1")); HvspiHost second = newHost()) {
            VmmUnavailableException busy = assertThrows(VmmUnavailableException.class, () -> second.stop("vm1"));
            assertTrue(busy.getMessage().contains(Long.toString(ProcessHandle.current().pid())), busy.getMessage());
        }
    }

    @Test
    void aStopWaitsForAnActionOnTheVmsFilesAndLaterActionsAreRefused() throws Exception {
        VmHandle handle = host.start(spec("vm1"));
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        Thread[] stopper = new Thread[1];
        Thread action = Thread.ofPlatform().start(() -> handle.whileRunning(() -> {
            stopper[0] = Thread.ofPlatform().start(handle::stop);
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (stopper[0].getState() != Thread.State.WAITING && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            verify(vm, never()).stop();
            release.countDown();
            return null;
        }));
        assertTrue(release.await(20, java.util.concurrent.TimeUnit.SECONDS), "the action ran");
        action.join();
        stopper[0].join();
        verify(vm).stop();
        RequestRejectedException late = assertThrows(RequestRejectedException.class,
                () -> handle.whileRunning(() -> "disk image"));
        assertEquals(RequestRejectedException.Reason.INVALID_STATE, late.reason());
        handle.close();
    }

    @Test
    void changesThroughTheHandlesViewsAreRefusedOnceItsStopBegan() {
        io.hvspi.spi.DeviceHotplug hotplug = mock(io.hvspi.spi.DeviceHotplug.class);
        when(vm.requireHotplug()).thenReturn(hotplug);
        io.hvspi.spi.BlockDeviceSpec disk = io.hvspi.spi.BlockDeviceSpec.builder("d0",
                io.hvspi.spi.BlockBackend.nullBackend()).build();
        VmHandle handle = host.start(spec("vm1"));
        handle.hotplug().attach(disk);
        verify(hotplug).attach(disk);
        handle.stop();
        assertThrows(RequestRejectedException.class, () -> handle.hotplug().attach(disk));
        assertThrows(RequestRejectedException.class, () -> handle.hotplug().detach("d0"));
        verify(hotplug, org.mockito.Mockito.times(1)).attach(disk);
        handle.close();
    }

    @Test
    void networkChangesThroughTheHandleAreRefusedOnceItsStopBegan() {
        io.hvspi.spi.NetworkHotplug network = mock(io.hvspi.spi.NetworkHotplug.class);
        when(vm.requireNetworkHotplug()).thenReturn(network);
        io.hvspi.spi.NetDeviceSpec nic = io.hvspi.spi.NetDeviceSpec.of("n0", io.hvspi.spi.NetBackend.tap("tap0"));
        VmHandle handle = host.start(spec("vm1"));
        handle.networkHotplug().attach(nic);
        verify(network).attach(nic);
        handle.stop();
        assertThrows(RequestRejectedException.class, () -> handle.networkHotplug().attach(nic));
        assertThrows(RequestRejectedException.class, () -> handle.networkHotplug().detach("n0"));
        verify(network, org.mockito.Mockito.times(1)).attach(nic);
        handle.close();
    }

    @Test
    void reattachedHandleOnlyDisconnects() {
        VmRecord record = new VmRecord("vm1", "fake", 0, root.resolve("vm1"), Instant.now(), "{}");
        host.context().stateStore().save(record);
        when(factory.reattach(any(VmRecord.class), any(HostContext.class))).thenReturn(vm);
        try (VmHandle handle = host.reattach("vm1")) {
            assertFalse(handle.startedHere());
            assertTrue(handle.keepsRunning());
        }
        verify(vm, never()).stop();
        verify(vm).close();
        assertUnlocked("vm1");
    }

    @Test
    void reattachToAnUnknownIdIsNotFoundAndReleasesTheLock() {
        RequestRejectedException e = assertThrows(RequestRejectedException.class, () -> host.reattach("ghost"));
        assertEquals(RequestRejectedException.Reason.NOT_FOUND, e.reason());
        assertUnlocked("ghost");
    }

    /** Reading an id that has no VM leaves nothing behind: no lock file stays for good. */
    @Test
    void anIdThatHasNoVmLeavesNoLockFile() {
        for (Runnable read : List.<Runnable>of(() -> host.reattach("ghost"), () -> host.stop("ghost"),
                () -> host.logFiles("ghost"))) {
            RequestRejectedException e = assertThrows(RequestRejectedException.class, read::run);
            assertEquals(RequestRejectedException.Reason.NOT_FOUND, e.reason());
        }
        assertFalse(Files.exists(VmLock.lockFile(root, "ghost")), "no lock file for an id that has no VM");
    }

    /** A stop of an existing VM still takes its lock: a holder makes it wait, and give up. */
    @Test
    void aStopOfAnExistingVmStillWaitsForItsLock() throws Exception {
        Files.createDirectory(root.resolve("held"));
        try (VmLock held = VmLock.acquire(root, "held", SHORT)) {
            assertThrows(io.hvspi.spi.VmmUnavailableException.class, () -> host.stop("held"));
        }
    }

    /** A runtime root that does not exist holds no VM, and reading it creates neither it nor its parents. */
    @Test
    void aMissingRuntimeRootListsNothingAndIsNotMade() {
        Path missing = root.resolve("absent").resolve("run");
        try (HvspiHost reader = HvspiHost.builder().plugins(registry).runtimeRoot(missing).lockTimeout(SHORT).build()) {
            assertEquals(List.of(), reader.list());
            for (Runnable read : List.<Runnable>of(() -> reader.reattach("vm1"), () -> reader.stop("vm1"),
                    () -> reader.logFiles("vm1"), () -> reader.follow("vm1", event -> { }))) {
                RequestRejectedException e = assertThrows(RequestRejectedException.class, read::run);
                assertEquals(RequestRejectedException.Reason.NOT_FOUND, e.reason());
            }
        }
        assertFalse(Files.exists(root.resolve("absent")), "no parent made by reading");
    }

    /** A VM's start makes the missing root (and its parents) 0700, as before. */
    @Test
    void aStartMakesAMissingRuntimeRoot() throws Exception {
        Path missing = root.resolve("absent").resolve("run");
        when(factory.create(any(), any())).thenAnswer(i -> {
            i.<io.hvspi.spi.HostContext>getArgument(1).createRuntimeDir("vm1");
            return vm;
        });
        try (HvspiHost starter = HvspiHost.builder().plugins(registry).runtimeRoot(missing).lockTimeout(SHORT).build();
             VmHandle handle = starter.start(spec("vm1"))) {
            assertTrue(Files.isDirectory(missing.resolve("vm1")));
            assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(missing)));
            handle.keepRunning();
        }
    }

    @Test
    void stopOfAVmWhoseVmmIsGoneForgetsItAndSaysWhy() {
        VmRecord record = new VmRecord("vm1", "fake", 0, root.resolve("vm1"), Instant.now(), "{}");
        host.context().stateStore().save(record);
        when(factory.reattach(any(VmRecord.class), any(HostContext.class))).thenThrow(
                new VmmUnavailableException(VmmUnavailableException.Reason.EXITED, "QEMU is gone"));
        VmStopper.Outcome stopped = host.stop("vm1");
        assertEquals("QEMU is gone", stopped.pluginFailure().orElseThrow());
        assertEquals(List.of(), stopped.signalled());
        assertTrue(host.list().isEmpty());
        assertFalse(root.resolve("vm1").toFile().exists());
    }

    /**
     * hvctl vm stop's path: the plugin's stop timed out on a VMM it reaches at an endpoint, which no
     * /proc scan finds: the record was removed, the VM forgotten while it may run; it is kept.
     */
    @Test
    void stopWhosePluginTimedOutOnAVmmNotOnThisHostKeepsTheRecord() throws Exception {
        Files.createDirectories(root.resolve("vm1"));
        host.context().stateStore().save(new VmRecord("vm1", "fake", 0, root.resolve("vm1"), Instant.now(), "{}"));
        when(factory.reattach(any(VmRecord.class), any(HostContext.class))).thenReturn(vm);
        org.mockito.Mockito.doThrow(new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT,
                "the VMM at /run/x.sock did not answer")).when(vm).stop();
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> host.stop("vm1"));
        assertTrue(e.getMessage().contains("its record is kept for a later stop"), e.getMessage());
        assertEquals(List.of("vm1"), host.list().stream().map(io.hvspi.core.state.VmEntry::vmId).toList());
    }

    @Test
    void closingTheHostStopsTheVmsItStartedAndDidNotKeep() {
        Hypervisor kept = mock(Hypervisor.class);
        when(kept.vmId()).thenReturn("vm2");
        when(factory.create(any(), any())).thenReturn(vm, kept);
        host.start(spec("vm1"));
        host.start(spec("vm2")).keepRunning();
        host.close();
        verify(vm).stop();
        verify(kept, never()).stop();
        verify(kept).close();
    }

    @Test
    void closingTheHostWaitsForAStartInFlightAndStopsWhatItStarted() throws Exception {
        CountDownLatch inStart = new CountDownLatch(1);
        CountDownLatch finishStart = new CountDownLatch(1);
        AtomicBoolean started = new AtomicBoolean();
        AtomicBoolean stopBeforeStartEnded = new AtomicBoolean();
        doAnswer(start -> {
            inStart.countDown();
            finishStart.await();
            started.set(true);
            return null;
        }).when(vm).start();
        doAnswer(stop -> {
            stopBeforeStartEnded.set(!started.get());
            return null;
        }).when(vm).stop();
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try {
            Future<VmHandle> starting = threads.submit(() -> host.start(spec("vm1")));
            assertTrue(inStart.await(10, TimeUnit.SECONDS));
            Future<?> closing = threads.submit(host::close);
            assertThrows(TimeoutException.class, () -> closing.get(200, TimeUnit.MILLISECONDS),
                    "close waits for the start in flight");
            finishStart.countDown();
            closing.get(10, TimeUnit.SECONDS);
            starting.get(10, TimeUnit.SECONDS);
        } finally {
            finishStart.countDown();
            threads.shutdownNow();
        }
        verify(vm).stop();
        assertFalse(stopBeforeStartEnded.get(), "the VM was stopped while its start ran");
        assertUnlocked("vm1");
    }

    @Test
    void aClosedHostRefusesWhatNeedsAPluginAndStillLists() {
        host.close();
        for (org.junit.jupiter.api.function.Executable op : List.<org.junit.jupiter.api.function.Executable>of(
                () -> host.start(spec("vm1")), () -> host.reattach("vm1"), () -> host.stop("vm1"), host::plugins)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, op);
            assertEquals("this HvspiHost is closed", e.getMessage());
        }
        verify(factory, never()).create(any(), any());
        assertEquals(List.of(), host.list());
        host.close(); // a second close does nothing
    }

    @Test
    void perVmOptionsReachThePluginOverTheHosts() {
        try (HvspiHost withOption = HvspiHost.builder().plugins(registry).runtimeRoot(root)
                .option("endpoint", "host-wide").option("other", "x").build();
             VmHandle ignored = withOption.start(spec("vm1"), Map.of("endpoint", "/tmp/sim.sock"))) {
            org.mockito.ArgumentCaptor<HostContext> context = org.mockito.ArgumentCaptor.forClass(HostContext.class);
            verify(factory).create(any(), context.capture());
            assertEquals("/tmp/sim.sock", context.getValue().option("endpoint").orElseThrow());
            assertEquals("x", context.getValue().option("other").orElseThrow());
        }
    }

    /** A null from the embedder's map was a NullPointerException out of a TreeMap. */
    @Test
    void aNullAnnotationKeyOrValueIsAnIllegalArgumentNamingIt() {
        java.util.Map<String, String> nullKey = new java.util.HashMap<>();
        nullKey.put(null, "1");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> host.parseConfig("[hypervisor.qemu]\n", Path.of("inline.toml"), nullKey));
        assertEquals("annotations: a null key (with value \"1\")", e.getMessage());
        java.util.Map<String, String> nullValue = new java.util.HashMap<>();
        nullValue.put("io.katacontainers.config.hypervisor.kernel_params", null);
        e = assertThrows(IllegalArgumentException.class,
                () -> host.parseConfig("[hypervisor.qemu]\n", Path.of("inline.toml"), nullValue));
        assertEquals("annotations: \"io.katacontainers.config.hypervisor.kernel_params\" has a null value",
                e.getMessage());
    }

    @Test
    void parsedConfigTellsTypePoolAndWarnings() {
        LoadedConfig config = host.parseConfig("""
                [hypervisor.qemu]
                path = "/usr/bin/qemu-system-x86_64"
                enable_iothreads = true
                indep_iothreads = 3
                indep_iothreads_policy = "round-robin"
                """, Path.of("inline.toml"), Map.of());
        assertEquals("qemu", config.hypervisorType());
        assertEquals(3, config.poolSize());
        assertEquals(IOThreadPolicy.ROUND_ROBIN, config.ioThreadPolicy());
        VmSpec spec = config.spec("vm9").toBuilder().accel("tcg").build();
        assertEquals("tcg", spec.accel());
        assertEquals(3, spec.ioThreads().poolSize());
        assertEquals("vm9", spec.vmId());
    }

    @Test
    void aHostNeedsAPluginSource() {
        assertThrows(IllegalStateException.class, () -> HvspiHost.builder().runtimeRoot(root).build());
    }
}
