package io.hvspi.plugin.dragonball;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.dragonball.api.BlockDeviceConfigInfo;
import io.hvspi.plugin.dragonball.bridge.BridgeClient;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HostThreads.Role;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.sim.dragonball.DragonballBridgeSimulator;
import io.hvspi.sim.dragonball.DragonballBridgeSimulator.Options;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DragonballHotplugTest {
    @TempDir
    Path dir;

    private final DragonballHypervisorFactory factory = new DragonballHypervisorFactory();
    private DragonballBridgeSimulator sim;
    private DefaultHostContext host;
    private Hypervisor vm;

    private DeviceHotplug started(Options options, String driver) {
        sim = DragonballBridgeSimulator.start(dir.resolve("sim"), options);
        host = TestVms.host(dir.resolve("run"), sim);
        vm = factory.create(TestVms.spec("vm1", TestVms.kernel(dir), driver, 1, 256, Optional.empty()), host);
        vm.start();
        return vm.requireHotplug();
    }

    private DeviceHotplug started() {
        return started(Options.defaults(), DragonballHypervisor.PCI_DRIVER);
    }

    @AfterEach
    void tearDown() {
        TestVms.stopInTeardown(vm);
        if (sim != null) {
            sim.close();
        }
    }

    private static BlockDeviceSpec nullDisk(String id) {
        return BlockDeviceSpec.builder(id, BlockBackend.nullBackend()).build();
    }

    @Test
    void attachInsertsTheDriveOnThePciBusBackedByASparseFile() throws IOException {
        DeviceHotplug hotplug = started();
        BlockDevice d = hotplug.attach(nullDisk("d0"));
        assertEquals("d0", d.id());
        assertEquals("virtio-blk-pci", d.driver());
        assertEquals(Optional.of("0000:00:01.0"), d.address(), "the PCI slot Dragonball gave");
        assertEquals(List.of(), d.ioThreads());
        assertEquals(1, d.queues());
        assertEquals(List.of("d0"), sim.driveIds());
        Path sparse = host.runtimeRoot().resolve("vm1").resolve("null-d0.img");
        assertEquals(1L << 30, Files.size(sparse));
        assertEquals(List.of(d), hotplug.list());
    }

    @Test
    void detachPreparesThenRemovesTheDriveAndItsFile() {
        DeviceHotplug hotplug = started();
        hotplug.attach(nullDisk("d0"));
        BlockDevice d1 = hotplug.attach(nullDisk("d1"));
        hotplug.detach("d0");
        assertEquals(List.of("d1"), sim.driveIds());
        assertEquals(List.of(d1), hotplug.list());
        assertFalse(Files.exists(host.runtimeRoot().resolve("vm1").resolve("null-d0.img")));
        assertTrue(host.stateStore().load("vm1").orElseThrow().pluginState().contains("\"d1\""));
        assertFalse(host.stateStore().load("vm1").orElseThrow().pluginState().contains("\"d0\""));
    }

    @Test
    void eachAttachedDriveShowsItsQueueThreadWhichGoesAwayOnDetach() {
        DeviceHotplug hotplug = started();
        hotplug.attach(nullDisk("d0"));
        hotplug.attach(nullDisk("d1"));
        var workers = vm.hostThreads().withRole(Role.QUEUE_WORKER);
        assertEquals(List.of("blk_iothread_q0", "blk_iothread_q0"), workers.stream().map(t -> t.name()).toList());
        assertEquals(List.of("d0", "d1"), workers.stream().map(t -> t.owner().orElseThrow()).toList(),
                "the bridge tells which drive each queue thread serves");
        hotplug.detach("d0");
        assertEquals(1, vm.hostThreads().withRole(Role.QUEUE_WORKER).size());
    }

    @Test
    void mmioDrivesHaveNoPciAddress() {
        DeviceHotplug hotplug = started(Options.defaults(), DragonballHypervisor.MMIO_DRIVER);
        BlockDevice d = hotplug.attach(nullDisk("d0"));
        assertEquals("virtio-blk-mmio", d.driver());
        assertEquals(Optional.empty(), d.address(), "the slot 0 Dragonball sends for it is no address");
        RequestRejectedException pci = assertThrows(RequestRejectedException.class, () -> hotplug.attach(
                BlockDeviceSpec.builder("d1", BlockBackend.nullBackend()).driver(DragonballHypervisor.PCI_DRIVER)
                        .build()));
        assertTrue(pci.getMessage().contains("without PCI hotplug"), pci.getMessage());
        assertEquals(List.of("d0"), hotplug.list().stream().map(BlockDevice::id).toList());
    }

    /** Dragonball keeps the entry of a drive whose file did not open; the plugin removes it, so a retry works. */
    @Test
    void aDriveWhoseFileDoesNotOpenCanBeAttachedAgainUnderItsId() throws IOException {
        DeviceHotplug hotplug = started();
        Path notAFile = Files.createDirectory(dir.resolve("a-directory"));
        VmmException refused = assertThrows(VmmException.class, () -> hotplug.attach(
                BlockDeviceSpec.builder("data", BlockBackend.path(notAFile)).build()));
        assertEquals("Block.Virtio", refused.errorClass());
        Path disk = Files.write(dir.resolve("data.img"), new byte[8192]);
        BlockDevice d = hotplug.attach(BlockDeviceSpec.builder("data", BlockBackend.path(disk)).build());
        assertEquals("data", d.id());
    }

    @Test
    void aHostFileIsOpenedInPlaceAndKeptOnDetach() throws IOException {
        DeviceHotplug hotplug = started();
        Path disk = Files.write(dir.resolve("data.img"), new byte[8192]);
        BlockDevice d = hotplug.attach(BlockDeviceSpec.builder("data", BlockBackend.path(disk)).readOnly(true).build());
        assertTrue(d.readOnly());
        hotplug.detach("data");
        assertTrue(Files.exists(disk));
    }

    @Test
    void requestsTheFrameworkCanJudgeAreRejectedBeforeReachingDragonball() {
        DeviceHotplug hotplug = started();
        hotplug.attach(nullDisk("d0"));
        assertEquals(Reason.DUPLICATE_ID,
                assertThrows(RequestRejectedException.class, () -> hotplug.attach(nullDisk("d0"))).reason());
        assertEquals(Reason.NOT_FOUND,
                assertThrows(RequestRejectedException.class, () -> hotplug.detach("ghost")).reason());
        assertEquals(Reason.INVALID_ARGUMENT,
                assertThrows(RequestRejectedException.class, () -> hotplug.attach(nullDisk("bad id"))).reason());
        assertEquals(Reason.INVALID_ARGUMENT, assertThrows(RequestRejectedException.class, () -> hotplug.attach(
                BlockDeviceSpec.builder("q", BlockBackend.nullBackend()).format("qcow2").build())).reason());
        assertEquals(Reason.INVALID_ARGUMENT, assertThrows(RequestRejectedException.class, () -> hotplug.attach(
                BlockDeviceSpec.builder("s", BlockBackend.nullBackend()).driver("virtio-scsi").build())).reason());
        assertEquals(List.of("d0"), sim.driveIds());
    }

    @Test
    void hotplugBeforeStartIsRefused() {
        sim = DragonballBridgeSimulator.start(dir.resolve("sim"));
        host = TestVms.host(dir.resolve("run"), sim);
        vm = factory.create(TestVms.spec("vm1", TestVms.kernel(dir)), host);
        RequestRejectedException e = assertThrows(RequestRejectedException.class,
                () -> vm.requireHotplug().attach(nullDisk("d0")));
        assertEquals(Reason.INVALID_STATE, e.reason());
    }

    @Test
    void dragonballsBlockDeviceErrorsSurfaceWithTheirKindAndLeaveNothingBehind() throws IOException {
        DeviceHotplug hotplug = started();
        Path missing = dir.resolve("missing.img");
        VmmException noFile = assertThrows(VmmException.class,
                () -> hotplug.attach(BlockDeviceSpec.builder("m", BlockBackend.path(missing)).build()));
        assertEquals("InsertBlockDevice", noFile.command());
        assertEquals("Block.InvalidBlockDevicePath", noFile.errorClass());
        assertEquals("virtio-blk device error: invalid block device path '" + missing + "'", noFile.vmmMessage());

        Path disk = Files.write(dir.resolve("shared.img"), new byte[512]);
        hotplug.attach(BlockDeviceSpec.builder("a", BlockBackend.path(disk)).build());
        VmmException samePath = assertThrows(VmmException.class,
                () -> hotplug.attach(BlockDeviceSpec.builder("b", BlockBackend.path(disk)).build()));
        assertEquals("Block.BlockDevicePathAlreadyExists", samePath.errorClass());
        assertEquals(List.of("a"), hotplug.list().stream().map(BlockDevice::id).toList());
    }

    @Test
    void aDriveInsertedBehindThePluginsBackIsReportedByDragonball() {
        DeviceHotplug hotplug = started();
        try (BridgeClient other = BridgeClient.connect(sim.socketPath(), TestVms.TIMEOUT)) {
            other.call("InsertBlockDevice", new BlockDeviceConfigInfo("x", TestVms.kernel(dir).toString(), false,
                    true, false, 1, true).toJson(), TestVms.TIMEOUT);
        }
        VmmException e = assertThrows(VmmException.class, () -> hotplug.attach(nullDisk("x")));
        assertEquals("Block.BlockDevicePathAlreadyExists", e.errorClass(), "Dragonball's answer to a known drive id");
        assertFalse(Files.exists(host.runtimeRoot().resolve("vm1").resolve("null-x.img")), "the sparse file is removed");
        assertEquals(List.of(), hotplug.list());
    }

    @Test
    void aDriveRemovedBehindThePluginsBackIsReportedOnDetachAndForgotten() {
        DeviceHotplug hotplug = started();
        hotplug.attach(nullDisk("d0"));
        try (BridgeClient other = BridgeClient.connect(sim.socketPath(), TestVms.TIMEOUT)) {
            other.call("RemoveBlockDevice", BlockDeviceConfigInfo.driveIdOnly("d0"), TestVms.TIMEOUT);
        }
        VmmException e = assertThrows(VmmException.class, () -> hotplug.detach("d0"));
        assertEquals("PrepareRemoveBlockDevice", e.command());
        assertEquals("Block.InvalidDeviceId", e.errorClass());
        assertEquals("virtio-blk device error: invalid block device id 'd0'", e.vmmMessage());
        assertEquals(List.of(), hotplug.list());
        assertFalse(Files.exists(host.runtimeRoot().resolve("vm1").resolve("null-d0.img")));
    }

    @Test
    void attachRetriesUntilTheGuestsUpcallChannelIsUp() {
        DeviceHotplug hotplug = started(Options.defaults().withUpcallNotReadyAfterStart(3),
                DragonballHypervisor.PCI_DRIVER);
        assertEquals("d0", hotplug.attach(nullDisk("d0")).id());
        assertEquals(4, sim.upcallRequests(), "three requests refused (upcall not ready), the fourth answered");
        assertEquals(List.of("d0"), hotplug.list().stream().map(BlockDevice::id).toList());
    }

    @Test
    void attachOnAPausedVmFailsAtOnceBecauseTheGuestCannotAnswer() {
        DeviceHotplug hotplug = started();
        vm.pause();
        VmmException e = assertThrows(VmmException.class, () -> hotplug.attach(nullDisk("d0")));
        assertEquals("UpcallServerNotReady", e.errorClass());
        assertEquals(List.of(), hotplug.list());
    }

    @Test
    void detachGivesUpAfterItsTimeoutWhenTheGuestNeverReleasesTheDrive() {
        DeviceHotplug hotplug = started(Options.defaults().withStalledActions("PrepareRemoveBlockDevice"),
                DragonballHypervisor.PCI_DRIVER);
        hotplug.attach(nullDisk("d0"));
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                () -> hotplug.detach("d0", Duration.ofMillis(200)));
        assertEquals(VmmUnavailableException.Reason.TIMED_OUT, e.reason());
        assertEquals(List.of("d0"), hotplug.list().stream().map(BlockDevice::id).toList(), "still attached");
        assertEquals(List.of("d0"), sim.driveIds());
    }

    /**
     * An InsertBlockDevice the bridge does not answer in time: Dragonball may still add the drive (the
     * bridge drops a late answer), so it stays listed: its id is not given out twice, and a detach
     * removes it, or, as here where it was never added, forgets it on Dragonball's InvalidDeviceId.
     */
    @Test
    void anAttachThatTimesOutStaysListedUntilADetachRemovesIt() {
        DeviceHotplug hotplug = started(Options.defaults().withStalledActions("InsertBlockDevice"),
                DragonballHypervisor.PCI_DRIVER);
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> hotplug.attach(nullDisk("d0")));
        assertEquals(VmmUnavailableException.Reason.TIMED_OUT, e.reason());
        assertTrue(e.getMessage().contains("stays listed: detach it to remove it"), e.getMessage());
        assertEquals(List.of("d0"), hotplug.list().stream().map(BlockDevice::id).toList());
        RequestRejectedException twice = assertThrows(RequestRejectedException.class,
                () -> hotplug.attach(nullDisk("d0")));
        assertEquals(RequestRejectedException.Reason.DUPLICATE_ID, twice.reason());
        VmmException gone = assertThrows(VmmException.class, () -> hotplug.detach("d0"));
        assertEquals("Block.InvalidDeviceId", gone.errorClass());
        assertEquals(List.of(), hotplug.list());
        assertFalse(Files.exists(host.runtimeRoot().resolve("vm1").resolve("null-d0.img")));
    }

    /**
     * Stop does not wait for an attach: one that finishes after the attach's state check and
     * before its null backend's sparse file is made (the runtime directory deleted) refuses the
     * attach as a stopped VM's, not with an I/O error, and leaves no runtime directory behind.
     */
    @Test
    void anAttachThatAStopOvertakesIsRefusedAndLeavesNoRuntimeDirectory() throws Exception {
        DeviceHotplug hotplug = started();
        Path runtime = host.runtimeRoot().resolve("vm1");
        ((DragonballHypervisor) vm).beforeSparseFile = () -> {
            Thread stopper = Thread.ofPlatform().start(vm::stop); // another caller; stop takes no attach lock
            try {
                stopper.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        RequestRejectedException e = assertThrows(RequestRejectedException.class, () -> hotplug.attach(nullDisk("d0")));
        assertEquals(Reason.INVALID_STATE, e.reason(), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertFalse(Files.exists(runtime), "no runtime directory after the stop");
        assertTrue(host.stateStore().load("vm1").isEmpty());
        assertEquals(List.of(), sim.driveIds(), "nothing reached Dragonball");
        ((DragonballHypervisor) vm).beforeSparseFile = () -> {};
        assertEquals(Reason.INVALID_STATE, assertThrows(RequestRejectedException.class,
                () -> hotplug.attach(nullDisk("d1"))).reason(), "an attach after the stop");
        assertFalse(Files.exists(runtime));
    }
}
