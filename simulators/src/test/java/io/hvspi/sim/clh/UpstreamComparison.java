package io.hvspi.sim.clh;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * Where hvspi's description of the Cloud Hypervisor API ({@link ClhApiSpec#RESOURCE})
 * disagrees with Cloud Hypervisor's OpenAPI document: an endpoint, method, body
 * or reply schema the document does not have; a described member the document
 * lacks, or gives another type, format, enum, default, minimum or element type;
 * a member whose required flag differs, or that the document requires and the
 * description leaves out. Descriptions, comments and the description's closed
 * objects ({@code additionalProperties: false}) are not compared, nor a member
 * marked {@value ClhApiSpec#DIFFERS} with a reason (the document is wrong about
 * the Rust type there).
 */
final class UpstreamComparison {
    private static final Set<String> PROSE = Set.of("description", "$comment");

    private final JsonNode ours;
    private final JsonNode upstream;
    private final List<String> differences = new ArrayList<>();

    private UpstreamComparison(JsonNode ours, JsonNode upstream) {
        this.ours = ours;
        this.upstream = upstream;
    }

    /** Every disagreement, one line each naming where; empty when the description holds. */
    static List<String> differences(JsonNode ours, JsonNode upstream) {
        UpstreamComparison c = new UpstreamComparison(ours, upstream);
        c.endpoints();
        c.schemas();
        return List.copyOf(c.differences);
    }

    private void endpoints() {
        check("apiRoot", ours.path("apiRoot").asText(),
                java.net.URI.create(upstream.at("/servers/0/url").asText("/")).getPath());
        JsonNode paths = upstream.path("paths");
        Set<String> listed = new HashSet<>();
        ours.path("endpoints").fields().forEachRemaining(e -> {
            listed.add(e.getKey());
            endpoint(e.getKey(), e.getValue().path("methods"), paths.path(e.getKey())).ifPresent(op -> {
                JsonNode body = op.path("requestBody");
                check(e.getKey() + " body", e.getValue().path("body").asText(""), ref(body.at("/content/application~1json/schema")));
                if (e.getValue().has("body") && !body.path("required").asBoolean(false)) {
                    differences.add(e.getKey() + " body: the simulator requires it, the document does not");
                }
                check(e.getKey() + " 200 reply", e.getValue().path("ok").asText(""),
                        ref(op.at("/responses/200/content/application~1json/schema")));
            });
        });
        ours.path("notSimulated").fields().forEachRemaining(e -> {
            listed.add(e.getKey());
            endpoint(e.getKey(), e.getValue(), paths.path(e.getKey()));
        });
        paths.fieldNames().forEachRemaining(p -> {
            if (!listed.contains(p)) {
                differences.add(p + ": in the document, missing from the description (the simulator would answer 404)");
            }
        });
    }

    /** Checks the methods; the document's first operation, when the endpoint exists. */
    private Optional<JsonNode> endpoint(String path, JsonNode methods, JsonNode upstreamPath) {
        if (upstreamPath.isMissingNode()) {
            differences.add(path + ": not in the document");
            return Optional.empty();
        }
        Set<String> theirs = new TreeSet<>();
        upstreamPath.fieldNames().forEachRemaining(m -> theirs.add(m.toUpperCase(Locale.ROOT)));
        Set<String> mine = new TreeSet<>();
        methods.forEach(m -> mine.add(m.asText()));
        check(path + " methods", mine.toString(), theirs.toString());
        return Optional.of(upstreamPath.elements().next());
    }

    private void schemas() {
        JsonNode theirs = upstream.at("/components/schemas");
        ours.path("schemas").fields().forEachRemaining(e -> {
            String name = e.getKey();
            JsonNode mine = e.getValue();
            JsonNode up = theirs.path(name);
            if (up.isMissingNode()) {
                differences.add(name + ": no such schema in the document");
                return;
            }
            check(name + " type", mine.path("type").asText(), up.path("type").asText());
            Set<String> required = names(mine.path("required"));
            Set<String> upRequired = names(up.path("required"));
            for (String r : upRequired) {
                if (!mine.path("properties").has(r)) {
                    differences.add(name + "." + r + ": required by the document, not described");
                }
            }
            for (Map.Entry<String, JsonNode> p : iterable(mine.path("properties"))) {
                String where = name + "." + p.getKey();
                if (p.getValue().has(ClhApiSpec.DIFFERS)) {
                    if (p.getValue().get(ClhApiSpec.DIFFERS).asText("").isBlank()) {
                        differences.add(where + ": marked " + ClhApiSpec.DIFFERS + " without a reason");
                    }
                    continue;
                }
                JsonNode upProperty = up.path("properties").path(p.getKey());
                if (upProperty.isMissingNode()) {
                    differences.add(where + ": not in the document");
                    continue;
                }
                // as trees: member order is not a difference
                if (!normal(p.getValue()).equals(normal(upProperty))) {
                    differences.add(where + ": " + normal(p.getValue()) + " here, " + normal(upProperty) + " in the document");
                }
                if (required.contains(p.getKey()) != upRequired.contains(p.getKey())) {
                    differences.add(where + ": required " + required.contains(p.getKey()) + " here, "
                            + upRequired.contains(p.getKey()) + " in the document");
                }
            }
        });
    }

    private void check(String where, String mine, String theirs) {
        if (!mine.equals(theirs)) {
            differences.add(where + ": " + (mine.isEmpty() ? "none" : mine) + " here, "
                    + (theirs.isEmpty() ? "none" : theirs) + " in the document");
        }
    }

    private static String ref(JsonNode schema) {
        String ref = schema.path("$ref").asText("");
        return ref.substring(ref.lastIndexOf('/') + 1);
    }

    /** The node without prose, with each {@code $ref} reduced to the schema's name: what both sides must agree on. */
    private static JsonNode normal(JsonNode node) {
        JsonNode copy = node.deepCopy();
        strip(copy);
        return copy;
    }

    private static void strip(JsonNode node) {
        if (node instanceof ObjectNode object) {
            object.remove(PROSE);
            if (object.has("$ref")) {
                object.put("$ref", ref(object));
            }
        }
        node.forEach(UpstreamComparison::strip);
    }

    private static Set<String> names(JsonNode list) {
        Set<String> out = new TreeSet<>();
        list.forEach(n -> out.add(n.asText()));
        return out;
    }

    private static Iterable<Map.Entry<String, JsonNode>> iterable(JsonNode object) {
        return object::fields;
    }
}
