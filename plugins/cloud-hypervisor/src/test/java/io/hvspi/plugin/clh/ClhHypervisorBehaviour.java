package io.hvspi.plugin.clh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Capability;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.HostThreads.Role;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the plugin does against a Cloud Hypervisor API, whoever serves it: the
 * simulator ({@link ClhHypervisorOnSimulatorTest}) or a real binary
 * ({@link ClhHypervisorOnRealBinaryTest}, when {@code HVSPI_CLH_BINARY} is set).
 */
abstract class ClhHypervisorBehaviour {
    static final Duration THREADS_APPEAR = Duration.ofSeconds(10);

    @TempDir
    Path tmp;

    private final List<Hypervisor> started = new ArrayList<>();

    /** A host context for a new VM; with the simulator, its endpoint option points at a fresh simulator. */
    abstract HostContext hostFor(String vmId);

    abstract Path binary();

    /** A guest kernel the backend can boot, when it has one. */
    abstract Optional<Path> kernel();

    /** Runs after every VM of the test was stopped. */
    void cleanupBackend() {}

    @AfterEach
    void stopVms() {
        try {
            for (Hypervisor vm : started) {
                vm.stop();
            }
        } finally {
            cleanupBackend();
        }
    }

    /**
     * A VM not started yet; one that will {@code start} needs the backend's kernel, one that will
     * not gets any file as kernel (the factory refuses a spec without).
     */
    Hypervisor create(String vmId, int vcpus, boolean boot) {
        Optional<Path> kernel = kernel();
        if (boot) {
            assumeTrue(kernel.isPresent(), "no bootable guest kernel for this backend (set HVSPI_CLH_KERNEL)");
        } else if (kernel.isEmpty()) {
            kernel = Optional.of(tmp.resolve("never-booted-vmlinux"));
        }
        HostContext host = hostFor(vmId);
        Hypervisor vm = new ClhHypervisorFactory().create(TestVms.spec(vmId, binary(), kernel, vcpus, Map.of()), host);
        started.add(vm);
        return vm;
    }

    Hypervisor running(String vmId, int vcpus) {
        Hypervisor vm = create(vmId, vcpus, true);
        vm.start();
        return vm;
    }

    BlockDeviceSpec.Builder disk(String id) {
        return BlockDeviceSpec.builder(id, BlockBackend.path(TestVms.disk(tmp, id)));
    }

    @Test
    void startBootsTheVmIntoAPrivateRuntimeDirAndRecordsIt() throws Exception {
        Hypervisor vm = running("boot1", 1);
        assertEquals(VmState.RUNNING, vm.state());
        Optional<VmRecord> record = ((ClhHypervisor) vm).host().stateStore().load("boot1");
        assertTrue(record.isPresent(), "the VM is recorded");
        assertEquals("clh", record.get().hypervisorType());
        Path dir = record.get().runtimeDir();
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir)));
        assertTrue(Files.exists(dir.resolve(ClhHypervisor.SERIAL_NAME)), "the serial console goes to a file in the runtime dir");
    }

    @Test
    void hotplugIsPresentAsDeclaredButRefusesWorkWhileNoVmmRuns() {
        Hypervisor vm = create("early1", 1, false);
        assertTrue(vm.supports(Capability.BLOCK_DEVICE_HOTPLUG));
        DeviceHotplug hotplug = vm.hotplug().orElseThrow();
        RequestRejectedException e = assertThrows(RequestRejectedException.class, () -> hotplug.attach(disk("d0").build()));
        assertEquals(RequestRejectedException.Reason.INVALID_STATE, e.reason());
        assertTrue(hotplug.list().isEmpty());
        assertEquals(Capability.IOTHREAD_MOVE, assertThrows(UnsupportedCapabilityException.class,
                () -> hotplug.move("d0", IOThreadChoice.named("x"))).capability());
    }

    @Test
    void stopRemovesTheRuntimeDirectoryAndRecordAndIsIdempotent() {
        Hypervisor vm = running("stop1", 1);
        HostContext host = ((ClhHypervisor) vm).host();
        Path dir = host.stateStore().load("stop1").orElseThrow().runtimeDir();
        vm.stop();
        assertEquals(VmState.STOPPED, vm.state());
        assertFalse(Files.exists(dir), "runtime directory removed");
        assertTrue(host.stateStore().load("stop1").isEmpty(), "record removed");
        vm.stop();
        assertEquals(VmState.STOPPED, vm.state());
    }

    @Test
    void aSaveAfterStopLeavesNoRecordBehind() {
        ClhHypervisor vm = (ClhHypervisor) running("late1", 1);
        HostContext host = vm.host();
        Path dir = host.stateStore().load("late1").orElseThrow().runtimeDir();
        vm.stop();
        vm.saveState(); // what an attach the VMM answered just before stop does next
        assertTrue(host.stateStore().load("late1").isEmpty(), "no record of a VM that is gone");
        assertFalse(Files.exists(dir), "no runtime directory made again");
    }

    @Test
    void pauseAndResumeAreReflectedByVmInfo() {
        Hypervisor vm = running("pause1", 1);
        vm.pause();
        assertEquals(VmState.PAUSED, vm.state());
        vm.resume();
        assertEquals(VmState.RUNNING, vm.state());
    }

    @Test
    void pausingAPausedVmIsTheVmmsOwnError() {
        Hypervisor vm = running("pause2", 1);
        vm.pause();
        VmmException e = assertThrows(VmmException.class, vm::pause);
        assertEquals("500", e.errorClass());
        assertEquals("PUT /api/v1/vm.pause", e.command());
        assertTrue(e.vmmMessage().startsWith("Error from API: The VM could not be paused"), e.vmmMessage());
    }

    @Test
    void hotplugOnARunningVmReadsBackAKataPciAddressAndOneQueuePerVcpu() {
        Hypervisor vm = running("hot1", 2);
        DeviceHotplug hotplug = vm.requireHotplug();
        BlockDevice device = hotplug.attach(disk("disk0").build());
        assertTrue(device.address().orElseThrow().matches("0000:00:[0-9a-f]{2}\\.0"), device.address().get());
        assertEquals(2, device.queues(), "num_queues defaults to the boot vCPUs, as in Kata");
        assertEquals("virtio-blk-pci", device.driver());
        assertTrue(device.ioThreads().isEmpty(), "no IOThread: Cloud Hypervisor has per-queue threads instead");
        BlockDevice second = hotplug.attach(disk("disk1").readOnly(true).queues(1).build());
        assertNotEquals(device.address(), second.address());
        assertEquals(List.of("disk0", "disk1"), hotplug.list().stream().map(BlockDevice::id).toList());

        hotplug.detach("disk0");
        assertEquals(List.of("disk1"), hotplug.list().stream().map(BlockDevice::id).toList());
    }

    @Test
    void queuesAboveTheBootVcpusAreRefusedByTheVmmWithItsMessages() {
        Hypervisor vm = running("queues1", 1);
        VmmException e = assertThrows(VmmException.class,
                () -> vm.requireHotplug().attach(disk("disk0").queues(2).build()));
        assertEquals("500", e.errorClass());
        assertEquals("PUT /api/v1/vm.add-disk", e.command());
        assertTrue(e.vmmMessage().contains("The disk could not be added to the VM")
                && e.vmmMessage().contains("Queue count (2) must not exceed boot vCPUs (1)"), e.vmmMessage());
        assertTrue(vm.requireHotplug().list().isEmpty(), "a failed attach leaves nothing behind");
    }

    @Test
    void aMissingBackingFileIsTheVmmsError() {
        Hypervisor vm = running("missing1", 1);
        VmmException e = assertThrows(VmmException.class, () -> vm.requireHotplug()
                .attach(BlockDeviceSpec.builder("disk0", BlockBackend.path(tmp.resolve("absent.img"))).build()));
        assertEquals("500", e.errorClass());
        assertTrue(e.vmmMessage().contains("No such file or directory"), e.vmmMessage());
    }

    @Test
    void duplicateAndUnknownIdsAreRefusedBeforeTheVmm() {
        Hypervisor vm = running("ids1", 1);
        DeviceHotplug hotplug = vm.requireHotplug();
        hotplug.attach(disk("disk0").build());
        RequestRejectedException dup = assertThrows(RequestRejectedException.class, () -> hotplug.attach(disk("disk0").build()));
        assertEquals(RequestRejectedException.Reason.DUPLICATE_ID, dup.reason());
        RequestRejectedException unknown = assertThrows(RequestRejectedException.class, () -> hotplug.detach("nope"));
        assertEquals(RequestRejectedException.Reason.NOT_FOUND, unknown.reason());
        RequestRejectedException bad = assertThrows(RequestRejectedException.class, () -> hotplug.attach(disk("__x").build()));
        assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT, bad.reason());
    }

    @Test
    void queueWorkersAreListedPerDeviceFromProc() {
        Hypervisor vm = running("threads1", 2);
        vm.requireHotplug().attach(disk("disk0").build());
        assertTrue(TestVms.eventually(THREADS_APPEAR, () -> vm.hostThreads().withRole(Role.QUEUE_WORKER).size() == 2),
                "two queue workers appear once the guest activates the disk");
        HostThreads threads = vm.hostThreads();
        assertEquals(List.of("disk0_q0", "disk0_q1"), threads.withRole(Role.QUEUE_WORKER).stream()
                .map(HostThreads.HostThread::name).toList());
        assertTrue(threads.withRole(Role.QUEUE_WORKER).stream().allMatch(t -> t.owner().equals(Optional.of("disk0"))));
        assertTrue(threads.withRole(Role.VCPU).stream().map(HostThreads.HostThread::name).toList()
                .containsAll(List.of("vcpu0", "vcpu1")), threads.toString());
        assertEquals(1, threads.withRole(Role.MAIN).size());
        assertEquals(threads.pid(), threads.withRole(Role.MAIN).get(0).tid());
        assertTrue(threads.withRole(Role.QUEUE_WORKER).stream().allMatch(t -> Files.exists(
                Path.of("/proc", Long.toString(threads.pid()), "task", Long.toString(t.tid())))), "real host thread ids");

        vm.requireHotplug().detach("disk0");
        assertTrue(TestVms.eventually(THREADS_APPEAR, () -> vm.hostThreads().withRole(Role.QUEUE_WORKER).isEmpty()),
                "the workers end with the device");
    }

    @Test
    void aLongDeviceIdIsMatchedByItsTruncatedThreadName() {
        Hypervisor vm = running("threads2", 2);
        vm.requireHotplug().attach(disk("scratch-volume-01").build());
        assertTrue(TestVms.eventually(THREADS_APPEAR, () -> vm.hostThreads().withRole(Role.QUEUE_WORKER).size() == 2));
        assertTrue(vm.hostThreads().withRole(Role.QUEUE_WORKER).stream().allMatch(
                t -> t.name().equals("scratch-volume-") && t.owner().equals(Optional.of("scratch-volume-01"))));
    }

    @Test
    void ioThreadChoicesOtherThanPolicyOrMainLoopAreUnsupported() {
        Hypervisor vm = running("iot1", 1);
        assertTrue(vm.ioThreads().isEmpty());
        assertEquals(Capability.INDEPENDENT_IOTHREADS,
                assertThrows(UnsupportedCapabilityException.class, vm::requireIoThreads).capability());
        DeviceHotplug hotplug = vm.requireHotplug();
        UnsupportedCapabilityException named = assertThrows(UnsupportedCapabilityException.class,
                () -> hotplug.attach(disk("d1").ioThread(IOThreadChoice.named("indep_iothread_0")).build()));
        assertEquals(Capability.INDEPENDENT_IOTHREADS, named.capability());
        assertEquals("clh", named.hypervisorType());
        UnsupportedCapabilityException mapped = assertThrows(UnsupportedCapabilityException.class,
                () -> hotplug.attach(disk("d2").ioThread(IOThreadChoice.vqMapped(List.of("a", "b"))).build()));
        assertEquals(Capability.IOTHREAD_VQ_MAPPING, mapped.capability());
        assertTrue(hotplug.list().isEmpty(), "refused choices leave nothing behind");

        hotplug.attach(disk("d3").ioThread(IOThreadChoice.mainLoop()).build());
        UnsupportedCapabilityException move = assertThrows(UnsupportedCapabilityException.class,
                () -> hotplug.move("d3", IOThreadChoice.named("x")));
        assertEquals(Capability.IOTHREAD_MOVE, move.capability());
    }

    @Test
    void aNullBackendIsRefusedBecauseCloudHypervisorHasNone() {
        Hypervisor vm = running("null1", 1);
        RequestRejectedException e = assertThrows(RequestRejectedException.class,
                () -> vm.requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build()));
        assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT, e.reason());
        assertTrue(e.getMessage().contains("no null block backend"), e.getMessage());
    }

    @Test
    void queueAffinityIsSentForExistingQueuesOnly() {
        Hypervisor vm = running("aff1", 2);
        BlockDevice pinned = vm.requireHotplug().attach(disk("d0").queueAffinity(Map.of(0, List.of(0), 1, List.of(0))).build());
        assertEquals(2, pinned.queues());
        RequestRejectedException e = assertThrows(RequestRejectedException.class,
                () -> vm.requireHotplug().attach(disk("d1").queues(1).queueAffinity(Map.of(1, List.of(0))).build()));
        assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT, e.reason());
    }

    @Test
    void reattachSeesTheSameDevicesFromVmInfoAndTheVmKeepsRunning() {
        Hypervisor vm = running("reattach1", 2);
        BlockDevice attached = vm.requireHotplug().attach(disk("disk0").readOnly(true).build());
        HostContext host = ((ClhHypervisor) vm).host();
        VmRecord record = host.stateStore().load("reattach1").orElseThrow();
        try (Hypervisor again = new ClhHypervisorFactory().reattach(record, host)) {
            assertEquals(VmState.RUNNING, again.state());
            BlockDevice seen = again.requireHotplug().list().get(0);
            assertEquals(attached.id(), seen.id());
            assertEquals(attached.address(), seen.address());
            assertEquals(attached.queues(), seen.queues());
            assertTrue(seen.readOnly());
            assertEquals(attached.backend(), seen.backend());
        }
        assertEquals(VmState.RUNNING, vm.state(), "close() only disconnects");
    }
}
