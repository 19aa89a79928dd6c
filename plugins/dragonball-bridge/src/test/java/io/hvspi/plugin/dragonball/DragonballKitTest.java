package io.hvspi.plugin.dragonball;

import static io.hvspi.tck.CapabilityExpectation.SUPPORTED;
import static io.hvspi.tck.CapabilityExpectation.UNSUPPORTED;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.hvspi.spi.Capability;
import io.hvspi.tck.CapabilityExpectation;
import io.hvspi.tck.HypervisorContract;
import io.hvspi.tck.KitCatalogue;
import io.hvspi.tck.backend.BaseTckBackend;
import io.hvspi.tck.backend.SimulatorTckBackend;
import io.hvspi.tck.backend.TckBackend;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The compatibility kit against the Dragonball bridge simulator. */
class DragonballKitTest extends HypervisorContract {
    @Override
    protected TckBackend createBackend() {
        return SimulatorTckBackend.registered(new DragonballHypervisorFactory(), BaseTckBackend.tempWorkDir("dragonball-kit"));
    }

    @Override
    protected CapabilityExpectation expect(Capability c) {
        return switch (c) { // no default: a new capability must be decided here
            case BLOCK_DEVICE, BLOCK_DEVICE_HOTPLUG, NETWORK_DEVICE_HOTPLUG, PER_QUEUE_IO_THREADS -> SUPPORTED;
            // Kata has these for Dragonball; not declared until the kit can check them
            case BLOCK_DEVICE_DISCARD, FS_SHARING, HYBRID_VSOCK, GUEST_MEMORY_PROBE -> UNSUPPORTED;
            case MULTI_QUEUE, INDEPENDENT_IOTHREADS, IOTHREAD_RUNTIME_ADD, IOTHREAD_POLLING,
                 IOTHREAD_VQ_MAPPING, IOTHREAD_MOVE, QUEUE_AFFINITY, IOTHREAD_PINNING -> UNSUPPORTED;
        };
    }

    /** hvspi's rule for its own plugins: declare only what a contract of the kit exercises. */
    @Test
    void declaresOnlyWhatTheKitExercises() {
        assertEquals(Set.of(), KitCatalogue.notExercised(new DragonballHypervisorFactory().declaredCapabilities()),
                "declared, but no contract of the kit exercises it: write the contract or stop declaring it");
    }
}
