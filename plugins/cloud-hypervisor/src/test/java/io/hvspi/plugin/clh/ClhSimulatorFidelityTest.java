package io.hvspi.plugin.clh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hvspi.plugin.clh.api.ClhApiClient;
import io.hvspi.sim.clh.ClhSimulator;
import io.hvspi.spi.VmmException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The simulator against Cloud Hypervisor v51.1's source, over its socket: what the real
 * VMM answers where a review found the simulator differed (device tree links, payload
 * validation on device adds, removal and ejection, failed create, boot of a paused VM,
 * generated ids, NetConfig's ip/mask, queue sizes that panic, micro_http's refusals).
 */
class ClhSimulatorFidelityTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration T = Duration.ofSeconds(2);
    private static final String PANIC = "Error from API: API response receive error: receiving on a closed channel";

    @TempDir
    Path tmp;

    private ClhSimulator sim;
    private ClhApiClient api;

    private ClhApiClient start(ClhSimulator.Options options) {
        sim = ClhSimulator.start(tmp.resolve("sim"), options);
        api = new ClhApiClient(sim.socket(), "fidelity");
        return api;
    }

    private ClhApiClient start() {
        return start(ClhSimulator.Options.defaults());
    }

    @AfterEach
    void close() {
        if (api != null) {
            api.close();
        }
        if (sim != null) {
            sim.close();
        }
    }

    private Path kernel() {
        return file("vmlinux");
    }

    private Path file(String name) {
        try {
            Path f = tmp.resolve(name);
            if (!Files.exists(f)) {
                Files.writeString(f, "contents the simulator only opens");
            }
            return f;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void createAndBoot(int vcpus) {
        api.put("/vm.create", read("{\"cpus\":{\"boot_vcpus\":" + vcpus + ",\"max_vcpus\":" + vcpus + "},"
                + "\"payload\":{\"kernel\":\"" + kernel() + "\"}}"), T);
        api.put("/vm.boot", T);
    }

    private JsonNode info() {
        return api.get("/vm.info", T).requireBody("vm.info");
    }

    private String disk(String id) {
        return "{\"path\":\"" + TestVms.disk(tmp, id) + "\",\"id\":\"" + id + "\"}";
    }

    private VmmException refused(String endpoint, String body) {
        return assertThrows(VmmException.class, () -> api.put(endpoint, read(body), T));
    }

    private void assertVmmDied(VmmException e) throws InterruptedException {
        assertEquals("500", e.errorClass());
        assertEquals(PANIC, e.vmmMessage());
        assertTrue(sim.awaitShutdown(Duration.ofSeconds(5)), "the VMM process exits after its VMM thread panicked");
    }

    @Test
    void aVirtioDevicesNodeHasItsPciTransportAsParentWhichHoldsTheAddress() {
        start();
        createAndBoot(1);
        JsonNode added = api.put("/vm.add-disk", read(disk("d0")), T).requireBody("add-disk");
        JsonNode tree = info().get("device_tree");
        JsonNode device = tree.get("d0");
        assertEquals("_virtio-pci-d0", device.get("parent").asText());
        assertEquals(0, device.get("children").size());
        assertTrue(device.get("pci_bdf").isNull(), "the device's own node has no address: " + device);
        JsonNode transport = tree.get("_virtio-pci-d0");
        assertEquals(List.of("d0"), List.of(transport.get("children").get(0).asText()));
        assertTrue(transport.get("parent").isNull());
        assertEquals(added.get("bdf").asText(), transport.get("pci_bdf").asText());
        assertEquals("Mmio32", transport.at("/resources/0/PciBar/type_").asText(), "a block device's BAR is 32-bit");
        assertEquals(0x80000, transport.at("/resources/0/PciBar/size").asLong());
        assertEquals(Optional.of(added.get("bdf").asText()), ClhHypervisor.pciAddress(tree, "d0"));
    }

    @Test
    void withoutAPayloadEveryDeviceAddAndTheBootFailValidation() {
        start();
        api.put("/vm.create", read("{\"payload\":{}}"), T);
        String chain = "Failed to validate config: Payload configuration is not bootable: "
                + "No bootitem provided: neither firmware nor kernel";
        assertEquals("Error from API: The disk could not be added to the VM: " + chain,
                refused("/vm.add-disk", disk("d0")).vmmMessage());
        assertEquals("Error from API: The network device could not be added to the VM: " + chain,
                refused("/vm.add-net", "{\"tap\":\"hvtfid0\"}").vmmMessage());
        assertEquals("Error from API: The VM could not boot: " + chain,
                assertThrows(VmmException.class, () -> api.put("/vm.boot", T)).vmmMessage());
        assertEquals(0, info().path("config").path("disks").size(), "nothing was cold-added");
    }

    @Test
    void aRemovedDeviceLeavesTheConfigAtOnceAndASecondNicRemovalKillsTheVmm() throws InterruptedException {
        start(ClhSimulator.Options.defaults().withEjectDelay(Duration.ofMinutes(1)));
        createAndBoot(1);
        api.put("/vm.add-disk", read(disk("d0")), T);
        api.put("/vm.add-net", read("{\"tap\":\"hvtfid1\",\"id\":\"n0\"}"), T);
        api.put("/vm.remove-device", read("{\"id\":\"d0\"}"), T);
        api.put("/vm.remove-device", read("{\"id\":\"n0\"}"), T);
        JsonNode info = info();
        assertEquals(0, info.at("/config/disks").size(), "Vm::remove_device removes the config entry at once");
        assertEquals(0, info.at("/config/net").size());
        assertTrue(info.get("device_tree").has("d0") && info.get("device_tree").has("n0"), "not ejected yet");
        api.put("/vm.remove-device", read("{\"id\":\"d0\"}"), T); // the Block branch needs no config: 204 again
        assertVmmDied(refused("/vm.remove-device", "{\"id\":\"n0\"}"));
    }

    @Test
    void aConsoleFileThatCannotBeOpenedLeavesTheVmCreated() {
        start();
        String serial = tmp.resolve("absent/serial.log").toString();
        VmmException e = refused("/vm.create", "{\"payload\":{\"kernel\":\"" + kernel() + "\"},"
                + "\"serial\":{\"mode\":\"File\",\"file\":\"" + serial + "\"},\"console\":{\"mode\":\"Off\"}}");
        assertEquals("Error from API: The VM could not be created: Error creating console devices: "
                + "Error creating console device: No such file or directory (os error 2)", e.vmmMessage());
        assertEquals("Created", info().get("state").asText(), "vm_create keeps the config before opening the files");
        assertEquals("Error from API: The VM could not be created: VM is already created",
                refused("/vm.create", "{\"payload\":{\"kernel\":\"" + kernel() + "\"}}").vmmMessage());
        assertTrue(assertThrows(VmmException.class, () -> api.put("/vm.boot", T)).vmmMessage()
                .startsWith("Error from API: The VM could not boot: Error creating console devices"), "boot opens them again");
        api.put("/vm.delete", T);
        api.put("/vm.create", read("{\"payload\":{\"kernel\":\"" + kernel() + "\"}}"), T);
    }

    @Test
    void bootingAPausedVmResumesIt() {
        start();
        createAndBoot(1);
        api.put("/vm.pause", T);
        assertEquals(204, api.put("/vm.boot", T).status());
        assertEquals("Running", info().get("state").asText());
    }

    @Test
    void generatedIdsShareOneCounterPerBootAndAreWrittenIntoTheConfig() {
        start();
        api.put("/vm.create", read("{\"payload\":{\"kernel\":\"" + kernel() + "\"},\"disks\":[{\"path\":\""
                + TestVms.disk(tmp, "cold") + "\"}],\"net\":[{\"tap\":\"hvtfid2\"}]}"), T);
        api.put("/vm.boot", T);
        assertEquals("_disk0", info().at("/config/disks/0/id").asText());
        assertEquals("_net1", info().at("/config/net/0/id").asText(), "one counter for every kind, ids kept for NICs too");
        JsonNode hot = api.put("/vm.add-disk", read("{\"path\":\"" + TestVms.disk(tmp, "hot") + "\"}"), T).requireBody("add");
        assertEquals("_disk2", hot.get("id").asText());
        api.put("/vm.shutdown", T);
        api.put("/vm.boot", T);
        JsonNode again = api.put("/vm.add-disk", read("{\"path\":\"" + TestVms.disk(tmp, "again") + "\"}"), T)
                .requireBody("add");
        assertEquals("_disk1", again.get("id").asText(), "a new Vm counts from 0, skipping the ids its config has");
    }

    @Test
    void aNicHasNoIpOrMaskUnlessGivenAndNeedsBoth() {
        start();
        createAndBoot(1);
        api.put("/vm.add-net", read("{\"tap\":\"hvtfid3\",\"id\":\"n0\"}"), T);
        JsonNode net = info().at("/config/net/0");
        assertFalse(net.has("ip") || net.has("mask"), "Option without serde default: " + net);
        assertTrue(refused("/vm.add-net", "{\"tap\":\"hvtfid4\",\"ip\":\"192.168.1.2\"}").vmmMessage()
                .endsWith("Failed to validate config: IP provided without a mask"));
        assertTrue(refused("/vm.add-net", "{\"tap\":\"hvtfid4\",\"mask\":\"255.255.255.0\"}").vmmMessage()
                .endsWith("Failed to validate config: Mask provided without an IP"));
        assertTrue(refused("/vm.add-net", "{\"tap\":\"hvtfid4\",\"offload_csum\":false}").vmmMessage()
                .endsWith("\"offload_tso\" and \"offload_ufo\" depend on \"offload_csum\""));
    }

    @Test
    void theValidationMessagesAreV51s() {
        start();
        api.put("/vm.create", read("{\"cpus\":{\"boot_vcpus\":2,\"max_vcpus\":1},\"payload\":{\"kernel\":\"" + kernel()
                + "\"}}"), T);
        assertEquals("Error from API: The VM could not boot: Failed to validate config: Max CPUs (1) lower than boot CPUs (2)",
                assertThrows(VmmException.class, () -> api.put("/vm.boot", T)).vmmMessage());
    }

    @Test
    void aHotAddedDiskWithAQueueSizeQueueNewRefusesKillsTheVmm() throws InterruptedException {
        start();
        createAndBoot(1);
        assertVmmDied(refused("/vm.add-disk", "{\"path\":\"" + TestVms.disk(tmp, "q") + "\",\"queue_size\":1000}"));
    }

    @Test
    void aColdNicWithAQueueSizeQueueNewRefusesKillsTheVmmAtBoot() throws InterruptedException {
        start();
        api.put("/vm.create", read("{\"payload\":{\"kernel\":\"" + kernel() + "\"}}"), T);
        api.put("/vm.add-net", read("{\"tap\":\"hvtfid5\",\"queue_size\":100}"), T);
        assertVmmDied(assertThrows(VmmException.class, () -> api.put("/vm.boot", T)));
    }

    @Test
    void microHttpRefusesOtherMethodsAndLargeBodiesAndVmmShutdownIgnoresItsBody() throws InterruptedException {
        start();
        VmmException post = assertThrows(VmmException.class, () -> api.call("POST", "/vmm.ping", Optional.empty(), T));
        assertEquals("400", post.errorClass());
        assertEquals("{ \"error\": \"Invalid HTTP Method: Unsupported HTTP method.\nAll previous unanswered requests "
                + "will be dropped.\" }", post.vmmMessage());
        String big = "{\"path\":\"/x\",\"serial\":\"" + "s".repeat(51200) + "\"}";
        VmmException large = refused("/vm.add-disk", big);
        assertEquals("400", large.errorClass());
        assertTrue(large.vmmMessage().contains("Request payload with size " + big.length()
                + " is larger than the limit of 51200 allowed by server."), large.vmmMessage());
        assertEquals(200, api.put("/vmm.shutdown", read("{\"ignored\":true}"), T).status());
        assertTrue(sim.awaitShutdown(Duration.ofSeconds(5)));
    }

    private static JsonNode read(String json) {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
