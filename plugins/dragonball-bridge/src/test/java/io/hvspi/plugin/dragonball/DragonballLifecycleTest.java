package io.hvspi.plugin.dragonball;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.dragonball.bridge.BridgeClient;
import io.hvspi.spi.ConfigException;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.HostThreads.Role;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmException;
import io.hvspi.sim.dragonball.DragonballBridgeSimulator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DragonballLifecycleTest {
    @TempDir
    Path dir;

    private final DragonballHypervisorFactory factory = new DragonballHypervisorFactory();
    private DragonballBridgeSimulator sim;
    private DefaultHostContext host;
    private Hypervisor vm;

    @BeforeEach
    void setUp() {
        sim = DragonballBridgeSimulator.start(dir.resolve("sim"));
        host = TestVms.host(dir.resolve("run"), sim);
    }

    @AfterEach
    void tearDown() {
        TestVms.stopInTeardown(vm);
        sim.close();
    }

    @Test
    void startBootsTheVmAndRecordsIt() {
        vm = factory.create(TestVms.spec("vm1", TestVms.kernel(dir)), host);
        assertEquals(VmState.CREATED, vm.state());
        vm.start();
        assertEquals(VmState.RUNNING, vm.state());
        assertEquals("Running", sim.instanceState());
        VmRecord record = host.stateStore().load("vm1").orElseThrow();
        assertEquals("dragonball", record.hypervisorType());
        assertEquals(ProcessHandle.current().pid(), record.pid(), "the simulator's process hosts the VMM");
        assertTrue(record.pluginState().contains(sim.endpoint()));
        assertTrue(Files.isDirectory(record.runtimeDir()));
    }

    @Test
    void bootSourceAndMachineConfigurationCarryTheSpec() {
        vm = factory.create(TestVms.spec("vm1", TestVms.kernel(dir), DragonballHypervisor.PCI_DRIVER, 2, 512,
                Optional.empty()), host);
        vm.start();
        try (BridgeClient peek = BridgeClient.connect(sim.socketPath(), TestVms.TIMEOUT)) {
            JsonNode config = peek.call("GetVmConfiguration", null, TestVms.TIMEOUT);
            assertEquals(2, config.path("vcpu_count").asInt());
            assertEquals(512, config.path("mem_size_mib").asInt());
            assertTrue(config.path("pci_hotplug_enabled").asBoolean());
        }
    }

    @Test
    void stopShutsTheVmmDownAndLeavesNothingBehind() throws InterruptedException {
        vm = factory.create(TestVms.spec("vm1", TestVms.kernel(dir)), host);
        vm.start();
        Path runtimeDir = host.stateStore().load("vm1").orElseThrow().runtimeDir();
        vm.stop();
        assertEquals(VmState.STOPPED, vm.state());
        assertTrue(sim.awaitTermination(TestVms.TIMEOUT), "ShutdownMicroVm ends the VMM");
        assertFalse(Files.exists(runtimeDir));
        assertTrue(host.stateStore().load("vm1").isEmpty());
        vm.stop(); // idempotent
    }

    @Test
    void pauseAndResumeFollowTheVm() {
        vm = factory.create(TestVms.spec("vm1", TestVms.kernel(dir)), host);
        vm.start();
        vm.pause();
        assertEquals(VmState.PAUSED, vm.state());
        vm.pause(); // Dragonball does not refuse it
        assertEquals(VmState.PAUSED, vm.state());
        vm.resume();
        assertEquals(VmState.RUNNING, vm.state());
    }

    @Test
    void hostThreadsNameTheMasterAndOneThreadPerVcpu() throws IOException {
        vm = factory.create(TestVms.spec("vm1", TestVms.kernel(dir), DragonballHypervisor.PCI_DRIVER, 2, 256,
                Optional.empty()), host);
        vm.start();
        HostThreads threads = vm.hostThreads();
        assertEquals(ProcessHandle.current().pid(), threads.pid());
        assertEquals(1, threads.withRole(Role.MAIN).size());
        List<HostThreads.HostThread> vcpus = threads.withRole(Role.VCPU);
        assertEquals(List.of("0", "1"), vcpus.stream().map(t -> t.owner().orElseThrow()).toList());
        for (HostThreads.HostThread t : threads.threads()) {
            assertEquals(t.name(), Files.readString(Path.of("/proc", Long.toString(threads.pid()), "task",
                    Long.toString(t.tid()), "comm")).strip(), "names come from the host");
        }
        assertEquals(List.of(), threads.withRole(Role.QUEUE_WORKER));
    }

    @Test
    void aRootImageIsColdPluggedAsDragonballsRootDevice() throws IOException {
        Path image = Files.write(dir.resolve("rootfs.img"), new byte[4096]);
        vm = factory.create(TestVms.spec("vm1", TestVms.kernel(dir), DragonballHypervisor.PCI_DRIVER, 1, 256,
                Optional.of(image)), host);
        vm.start();
        assertEquals(List.of("rootfs"), sim.driveIds());
        assertEquals(List.of(), vm.requireHotplug().list(), "the root image is not a hotplugged device");
    }

    @Test
    void aVmmErrorDuringStartSurfacesWithItsKindAndLeavesNothingBehind() {
        vm = factory.create(TestVms.spec("vm1", dir.resolve("no-such-kernel")), host);
        VmmException e = assertThrows(VmmException.class, vm::start);
        assertEquals("ConfigureBootSource", e.command());
        assertEquals("BootSource.InvalidKernelPath", e.errorClass());
        assertTrue(e.vmmMessage().endsWith("No such file or directory (os error 2)"), e.vmmMessage());
        assertFalse(Files.exists(host.runtimeRoot().resolve("vm1")));
        assertTrue(host.stateStore().load("vm1").isEmpty());
        assertTrue(TestVms.eventually(() -> sim.connectionCount() == 0), "the plugin disconnected");
    }

    @Test
    void machineConfigurationErrorsSurfaceWithTheirKind() {
        vm = factory.create(TestVms.spec("vm1", TestVms.kernel(dir), DragonballHypervisor.PCI_DRIVER, 1, 255,
                Optional.empty()), host);
        VmmException e = assertThrows(VmmException.class, vm::start);
        assertEquals("SetVmConfiguration", e.command());
        assertEquals("MachineConfig.InvalidMemorySize", e.errorClass());
        assertEquals("failed to set configuration for the VM: the memory size 0xffMiB is invalid", e.vmmMessage());
    }

    @Test
    void aSecondVmOnAnAlreadyStartedBridgeIsRefusedByDragonball() {
        vm = factory.create(TestVms.spec("vm1", TestVms.kernel(dir)), host);
        vm.start();
        Hypervisor second = factory.create(TestVms.spec("vm2", TestVms.kernel(dir)), host);
        VmmException e = assertThrows(VmmException.class, second::start);
        assertEquals("ConfigureBootSource", e.command());
        assertEquals("BootSource.UpdateNotAllowedPostBoot", e.errorClass(), "one Dragonball runs one VM");
        assertFalse(Files.exists(host.runtimeRoot().resolve("vm2")));
        assertEquals(VmState.RUNNING, vm.state());
    }

    @Test
    void startingTwiceIsRefused() {
        vm = factory.create(TestVms.spec("vm1", TestVms.kernel(dir)), host);
        vm.start();
        RequestRejectedException e = assertThrows(RequestRejectedException.class, vm::start);
        assertEquals(RequestRejectedException.Reason.INVALID_STATE, e.reason());
    }

    @Test
    void ioThreadsInTheConfigAreRefusedAsKataDoes() {
        VmSpec spec = TestVms.spec("vm1", TestVms.kernel(dir))
                .withIoThreads(new VmSpec.IOThreadOptions(true, 2, IOThreadPolicy.FIRST));
        ConfigException e = assertThrows(ConfigException.class, () -> factory.create(spec, host));
        assertEquals("hypervisor.dragonball.enable_iothreads", e.key().orElseThrow());
        assertEquals("dragonball hypervisor doesn't support IO threads", e.problem());
    }

    @Test
    void createRefusesWhatDragonballCannotRun() {
        Path kernel = TestVms.kernel(dir);
        ConfigException driver = assertThrows(ConfigException.class, () -> factory.create(
                TestVms.spec("vm1", kernel, "virtio-scsi", 1, 256, Optional.empty()), host));
        assertEquals("hypervisor.dragonball.block_device_driver", driver.key().orElseThrow());
        ConfigException noKernel = assertThrows(ConfigException.class, () -> factory.create(
                TestVms.spec("vm1", kernel).withGuest(Optional.empty(), Optional.empty(), ""), host));
        assertEquals("hypervisor.dragonball.kernel", noKernel.key().orElseThrow());
        DefaultHostContext noEndpoint = TestVms.hostWithoutEndpoint(dir.resolve("run2"), TestVms.TIMEOUT);
        ConfigException noPath = assertThrows(ConfigException.class,
                () -> factory.create(TestVms.spec("vm1", kernel), noEndpoint));
        assertEquals("hypervisor.dragonball.path", noPath.key().orElseThrow());
        assertTrue(noPath.problem().contains("bridge sidecar"), noPath.problem());
        VmSpec notExecutable = TestVms.spec("vm1", kernel).toBuilder().binary(kernel).image(Optional.empty())
                .kernelParams("").vcpus(1).memoryMib(256).build();
        assertThrows(ConfigException.class, () -> factory.create(notExecutable, noEndpoint));
    }
}
