package io.hvspi.kit.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Capability;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.UnsupportedCapabilityException;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class DeviceSpecGuardTest {
    private static BlockDeviceSpec.Builder disk() {
        return BlockDeviceSpec.builder("d1", BlockBackend.nullBackend());
    }

    @Test
    void eachAskedCapabilityIsFoundInTheSpec() {
        assertEquals(Set.of(), DeviceSpecGuard.asked(disk().build()));
        assertEquals(Set.of(Capability.INDEPENDENT_IOTHREADS),
                DeviceSpecGuard.asked(disk().ioThread(IOThreadChoice.named("iot0")).build()));
        assertEquals(Set.of(Capability.MULTI_QUEUE, Capability.QUEUE_AFFINITY),
                DeviceSpecGuard.asked(disk().queues(2).queueAffinity(Map.of(0, List.of(1))).build()));
    }

    @Test
    void aSpecAskingForAMissingCapabilityFailsNamingItAndWhy() {
        DeviceSpecGuard guard = DeviceSpecGuard.of("toy", EnumSet.of(Capability.BLOCK_DEVICE, Capability.MULTI_QUEUE))
                .because(Capability.INDEPENDENT_IOTHREADS, "toy has no IOThreads");
        BlockDeviceSpec multi = disk().queues(4).build();
        assertSame(multi, guard.check(multi));
        UnsupportedCapabilityException e = assertThrows(UnsupportedCapabilityException.class,
                () -> guard.check(disk().ioThread(IOThreadChoice.named("iot0")).build()));
        assertEquals(Capability.INDEPENDENT_IOTHREADS, e.capability());
        assertEquals("toy", e.hypervisorType());
        assertTrue(e.getMessage().endsWith("device 'd1': toy has no IOThreads"), e.getMessage());
        UnsupportedCapabilityException vq = assertThrows(UnsupportedCapabilityException.class, () -> guard.check(
                disk().queues(2).ioThread(IOThreadChoice.vqMapped(List.of("a", "b"))).build()));
        assertEquals(Capability.IOTHREAD_VQ_MAPPING, vq.capability(), "the IOThread choice is the root cause");
        assertEquals(Capability.QUEUE_AFFINITY, assertThrows(UnsupportedCapabilityException.class,
                () -> guard.check(disk().queueAffinity(Map.of(0, List.of(0))).build())).capability());
    }
}
