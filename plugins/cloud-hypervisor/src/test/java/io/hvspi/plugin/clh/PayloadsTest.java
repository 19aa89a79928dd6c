package io.hvspi.plugin.clh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.plugin.clh.api.ErrorBodies;
import io.hvspi.plugin.clh.api.Payloads;
import io.hvspi.sim.clh.ClhApiSpec;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The bodies the plugin builds are valid for the simulator's description of the API (itself checked against Cloud Hypervisor's document); its error bodies parse. */
class PayloadsTest {
    static ClhApiSpec spec;

    @BeforeAll
    static void load() {
        spec = ClhApiSpec.bundled();
    }

    @Test
    void theVmConfigIsValidWithAndWithoutAGuest() {
        JsonNode full = Payloads.vmConfig(TestVms.spec("p1", Path.of("/bin/true"), Optional.of(Path.of("/k")), 2, Map.of())
                .withGuest(Optional.of(Path.of("/k")), Optional.of(Path.of("/i")), "quiet"), 4, Path.of("/run/serial.log"));
        assertEquals(List.of(), spec.validate("VmConfig", full));
        assertEquals(4, full.at("/cpus/max_vcpus").asInt());
        assertEquals("/i", full.at("/payload/initramfs").asText());
        JsonNode bare = Payloads.vmConfig(TestVms.spec("p2", Path.of("/bin/true"), Optional.empty(), 1, Map.of())
                .withGuest(Optional.empty(), Optional.empty(), ""), 0, Path.of("/run/serial.log"));
        assertEquals(List.of(), spec.validate("VmConfig", bare));
        assertEquals(1, bare.at("/cpus/max_vcpus").asInt(), "max vCPUs is at least the boot vCPUs");
    }

    @Test
    void theDiskConfigIsValid() {
        JsonNode disk = Payloads.diskConfig("d0", Path.of("/img"), true, true, 2, 1024, "Qcow2", Map.of(1, List.of(3, 4)));
        assertEquals(List.of(), spec.validate("DiskConfig", disk));
        assertEquals(List.of(), spec.validate("VmRemoveDevice", Payloads.removeDevice("d0")));
    }

    @Test
    void aQueueSizeCloudHypervisorWouldPanicOnIsNeverSent() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Payloads.diskConfig("d0", Path.of("/img"), false, false, 1, 1000, "Raw", Map.of()));
        assertEquals("clh: device 'd0': queue_size 1000 is not a power of two from 1 to 32768 (Cloud Hypervisor would panic)",
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Payloads.netConfig("n0", "tap0", "0a:00:00:00:00:01", 1, 65536));
        assertEquals(32768, Payloads.netConfig("n0", "tap0", "0a:00:00:00:00:01", 1, 32768).get("queue_size").asInt());
    }

    @Test
    void errorBodiesOfEveryVintageAreRead() {
        assertEquals(List.of("Error from API", "The VM is not booted"), ErrorBodies.messages("[\"Error from API\",\"The VM is not booted\"]"));
        assertEquals("Error from API: The VM is not booted", ErrorBodies.join("[\"Error from API\",\"The VM is not booted\"]"));
        assertEquals(List.of("VM is not booted"), ErrorBodies.messages("VM is not booted"));
        assertEquals(List.of("quoted"), ErrorBodies.messages("\"quoted\""));
        assertEquals("(no body)", ErrorBodies.join(""));
    }
}
