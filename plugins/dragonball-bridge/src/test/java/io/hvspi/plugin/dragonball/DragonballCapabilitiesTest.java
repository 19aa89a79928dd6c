package io.hvspi.plugin.dragonball;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Capability;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HostThreads.Role;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.NetBackend;
import io.hvspi.spi.NetDeviceSpec;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.sim.dragonball.DragonballBridgeSimulator;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The declaration is honest in both directions: every declared capability hvspi can
 * exercise works, every other one fails with the uniform unsupported error. One VM
 * serves the whole class.
 */
class DragonballCapabilitiesTest {
    @TempDir
    static Path dir;

    private static DragonballBridgeSimulator sim;
    private static Hypervisor vm;

    @BeforeAll
    static void startVm() {
        sim = DragonballBridgeSimulator.start(dir.resolve("sim"));
        vm = new DragonballHypervisorFactory().create(TestVms.spec("caps", TestVms.kernel(dir)),
                TestVms.host(dir.resolve("run"), sim));
        vm.start();
    }

    @AfterAll
    static void stopVm() {
        TestVms.stopInTeardown(vm);
        sim.close();
    }

    /** Exhaustive: a new Capability constant does not compile until it is decided here. */
    static boolean declared(Capability c) {
        return switch (c) {
            // Kata runtime-rs' Dragonball bits that the kit exercises
            case BLOCK_DEVICE, BLOCK_DEVICE_HOTPLUG -> true;
            // Kata's too, but nothing checks them yet: not declared
            case BLOCK_DEVICE_DISCARD, FS_SHARING, HYBRID_VSOCK, GUEST_MEMORY_PROBE -> false;
            case MULTI_QUEUE -> false;
            // through the bridge's InsertNetworkDevice / RemoveNetworkDevice
            case NETWORK_DEVICE_HOTPLUG -> true;
            // Dragonball runs blk_iothread_q<i> per queue and has no IOThread objects
            case PER_QUEUE_IO_THREADS -> true;
            case INDEPENDENT_IOTHREADS, IOTHREAD_RUNTIME_ADD, IOTHREAD_POLLING, IOTHREAD_VQ_MAPPING, IOTHREAD_MOVE,
                 QUEUE_AFFINITY, IOTHREAD_PINNING -> false;
        };
    }

    @Test
    void declaredAndEffectiveCapabilitiesMatchTheSwitch() {
        Set<Capability> expected = EnumSet.noneOf(Capability.class);
        for (Capability c : Capability.values()) {
            if (declared(c)) {
                expected.add(c);
            }
        }
        assertEquals(expected, new DragonballHypervisorFactory().declaredCapabilities());
        assertEquals(expected, vm.capabilities());
    }

    @Test
    void everyCapabilityBehavesAsDeclared() {
        DeviceHotplug hotplug = vm.requireHotplug();
        for (Capability c : Capability.values()) {
            switch (c) {
                case BLOCK_DEVICE, BLOCK_DEVICE_HOTPLUG -> {
                    hotplug.attach(disk("cap-" + c.key()).build());
                    hotplug.detach("cap-" + c.key());
                }
                case PER_QUEUE_IO_THREADS -> {
                    hotplug.attach(disk("cap-q").build());
                    try {
                        assertEquals(1, vm.hostThreads().withRole(Role.QUEUE_WORKER).size());
                    } finally {
                        hotplug.detach("cap-q");
                    }
                }
                case MULTI_QUEUE -> assertUnsupported(c, () -> hotplug.attach(disk("mq").queues(2).build()));
                case INDEPENDENT_IOTHREADS, IOTHREAD_RUNTIME_ADD, IOTHREAD_POLLING, IOTHREAD_PINNING -> {
                    assertTrue(vm.ioThreads().isEmpty());
                    assertUnsupported(Capability.INDEPENDENT_IOTHREADS, vm::requireIoThreads);
                    assertUnsupported(Capability.INDEPENDENT_IOTHREADS, () -> hotplug.attach(
                            disk("named").ioThread(IOThreadChoice.named("indep_iothread_0")).build()));
                }
                case IOTHREAD_VQ_MAPPING -> assertUnsupported(c, () -> hotplug.attach(
                        disk("vq").ioThread(IOThreadChoice.vqMapped(List.of("a", "b"))).build()));
                case IOTHREAD_MOVE -> assertUnsupported(c, () -> hotplug.move("any", IOThreadChoice.mainLoop()));
                case QUEUE_AFFINITY -> assertUnsupported(c, () -> hotplug.attach(
                        disk("aff").queueAffinity(Map.of(0, List.of(0))).build()));
                // Not declared: no SPI operation to refuse (discard is automatic)
                case NETWORK_DEVICE_HOTPLUG -> {
                    vm.requireNetworkHotplug().attach(NetDeviceSpec.of("cap-net", NetBackend.newTap("hvtcapnet0")));
                    assertEquals(List.of("cap-net"), sim.netIds());
                    vm.requireNetworkHotplug().detach("cap-net");
                }
                case BLOCK_DEVICE_DISCARD, FS_SHARING, HYBRID_VSOCK, GUEST_MEMORY_PROBE -> { }
            }
        }
        assertEquals(List.of(), hotplug.list(), "refused requests attached nothing");
        assertEquals(List.of(), sim.driveIds());
    }

    @Test
    void policyAndMainLoopChoicesAreServedByTheQueueThreads() {
        DeviceHotplug hotplug = vm.requireHotplug();
        hotplug.attach(disk("policy").ioThread(IOThreadChoice.byPolicy()).build());
        hotplug.attach(disk("main").ioThread(IOThreadChoice.mainLoop()).build());
        try {
            assertEquals(2, vm.hostThreads().withRole(Role.QUEUE_WORKER).size());
        } finally {
            hotplug.detach("policy");
            hotplug.detach("main");
        }
    }

    private static BlockDeviceSpec.Builder disk(String id) {
        return BlockDeviceSpec.builder(id, BlockBackend.nullBackend());
    }

    private static void assertUnsupported(Capability c, org.junit.jupiter.api.function.Executable op) {
        UnsupportedCapabilityException e = assertThrows(UnsupportedCapabilityException.class, op);
        assertEquals(c, e.capability());
        assertEquals("dragonball", e.hypervisorType());
    }
}
