package io.hvspi.sim.clh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * hvspi's description of the Cloud Hypervisor API, the one the simulator serves
 * from its jar, against Cloud Hypervisor's own OpenAPI document for the same
 * version (Kata's fixture, beside the project): every endpoint, method, body,
 * member, type and required flag the simulator accepts is the VMM's.
 */
class ClhApiConformanceTest {
    private static JsonNode ours;
    private static JsonNode upstream;

    @BeforeAll
    static void read() throws IOException {
        try (InputStream in = ClhApiSpec.class.getResourceAsStream(ClhApiSpec.RESOURCE)) {
            ours = new ObjectMapper().readTree(in);
        }
        Path document = Path.of(System.getProperty("hvspi.fixtures"), "cloud-hypervisor",
                "cloud-hypervisor-" + ours.path("version").asText() + ".openapi.yaml");
        upstream = new YAMLMapper().readTree(Files.readAllBytes(document));
    }

    @Test
    void theDescriptionAgreesWithCloudHypervisorsDocument() {
        assertEquals(List.of(), UpstreamComparison.differences(ours, upstream));
        assertEquals(ClhApiSpec.API_ROOT, ours.path("apiRoot").asText());
    }

    @Test
    void aDescriptionThatDriftsFromTheDocumentIsCaught() {
        ObjectNode drifted = ours.deepCopy();
        ObjectNode schemas = (ObjectNode) drifted.get("schemas");
        ((ObjectNode) schemas.at("/DiskConfig/properties/num_queues")).put("type", "string");
        ((ObjectNode) schemas.at("/DiskConfig/properties")).putObject("colour").put("type", "string");
        ((ArrayNode) schemas.at("/CpusConfig/required")).remove(1);
        ((ObjectNode) drifted.get("endpoints")).putObject("/vm.teleport").putArray("methods").add("PUT");
        ((ObjectNode) drifted.at("/endpoints/~1vm.create")).put("body", "DiskConfig");
        ((ObjectNode) drifted.get("notSimulated")).remove("/vm.counters");
        ((ObjectNode) schemas.at("/NetConfig/properties/ip")).put(ClhApiSpec.DIFFERS, "");
        List<String> found = UpstreamComparison.differences(drifted, upstream);
        for (String expected : List.of(
                "DiskConfig.num_queues: {\"type\":\"string\",\"default\":1} here, {\"type\":\"integer\",\"default\":1} in the document",
                "DiskConfig.colour: not in the document",
                "CpusConfig.max_vcpus: required false here, true in the document",
                "/vm.teleport: not in the document",
                "/vm.create body: DiskConfig here, VmConfig in the document",
                "/vm.counters: in the document, missing from the description (the simulator would answer 404)",
                "NetConfig.ip: marked x-differs-from-document without a reason")) {
            assertTrue(found.contains(expected), () -> expected + " not in " + found);
        }
        assertEquals(7, found.size(), found::toString);
    }

    @Test
    void everyReferenceIsToASchemaTheDescriptionHas() {
        Set<String> refs = new TreeSet<>();
        List<JsonNode> todo = new ArrayList<>(List.of(ours.get("schemas")));
        while (!todo.isEmpty()) {
            JsonNode n = todo.remove(todo.size() - 1);
            if (n.has("$ref")) {
                refs.add(n.get("$ref").asText().replace("#/schemas/", ""));
            }
            n.forEach(todo::add);
        }
        ours.get("endpoints").forEach(e -> {
            if (e.has("body")) {
                refs.add(e.get("body").asText());
            }
            if (e.has("ok")) {
                refs.add(e.get("ok").asText());
            }
        });
        Set<String> described = new TreeSet<>();
        ours.get("schemas").fieldNames().forEachRemaining(described::add);
        assertTrue(described.containsAll(refs), () -> "undescribed: " + refs + " vs " + described);
        assertEquals(described, refs, "every described schema is used");
    }
}
