package io.hvspi.tck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.Capability;
import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The catalogue behind the rule "a bundled plugin declares only what the kit exercises". */
class KitCatalogueTest {

    @Test
    void theCatalogueSeesEveryContractsCapabilities() {
        Set<Capability> exercised = KitCatalogue.exercised();
        assertTrue(exercised.containsAll(EnumSet.of(Capability.BLOCK_DEVICE, Capability.BLOCK_DEVICE_DISCARD,
                Capability.NETWORK_DEVICE_HOTPLUG, Capability.INDEPENDENT_IOTHREADS, Capability.QUEUE_AFFINITY)),
                exercised::toString);
        assertEquals(EnumSet.of(Capability.FS_SHARING, Capability.HYBRID_VSOCK, Capability.GUEST_MEMORY_PROBE),
                KitCatalogue.notExercised(EnumSet.allOf(Capability.class)),
                "what the kit cannot exercise yet: when this changes, update docs/compatibility-kit.md");
    }

    @Test
    void aDeclarationWithAnUnexercisedCapabilityIsCaught() {
        assertEquals(EnumSet.of(Capability.FS_SHARING),
                KitCatalogue.notExercised(EnumSet.of(Capability.BLOCK_DEVICE, Capability.FS_SHARING)));
        assertEquals(Set.of(), KitCatalogue.notExercised(EnumSet.of(Capability.BLOCK_DEVICE_HOTPLUG)));
    }
}
