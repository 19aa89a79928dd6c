package io.hvspi.sim.clh;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaLocation;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.dialect.Dialect;
import com.networknt.schema.dialect.Dialects;
import com.networknt.schema.keyword.NonValidationKeyword;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * The Cloud Hypervisor API the simulator serves, from hvspi's own description
 * ({@value #RESOURCE}, inside this jar): which endpoints exist, which of them
 * the simulator implements, their methods and bodies, and a JSON-schema
 * validator (networknt, OpenAPI 3.0 dialect) for every body schema. The
 * simulator derives its routes from it, so an endpoint the real VMM lacks is a
 * 404 here exactly as there. {@code ClhApiConformanceTest} checks the
 * description against Cloud Hypervisor's published OpenAPI document.
 */
public final class ClhApiSpec {
    /** Where the API lives under the socket, as in Cloud Hypervisor's {@code HTTP_ROOT}. */
    public static final String API_ROOT = "/api/v1";
    /** The description, a class-path resource next to this class. */
    public static final String RESOURCE = "cloud-hypervisor-api.json";

    // a name for the document inside the validator's registry; never fetched
    private static final String DOCUMENT_IRI = "https://hvspi.invalid/cloud-hypervisor/api.json";
    private static final String SCHEMAS = "#/schemas/";
    /** Marks a member where the document is wrong about the Rust type; its value says why. */
    public static final String DIFFERS = "x-differs-from-document";

    /**
     * One endpoint.
     *
     * @param path e.g. {@code /vm.add-disk} (without {@link #API_ROOT})
     * @param methods the HTTP methods it takes, upper case
     * @param bodySchema the schema of the request body, when it takes one (always required)
     * @param okSchema the schema of a 200 reply's body, when it has one
     * @param simulated false for an endpoint the real VMM has and the simulator does not implement
     */
    public record Route(String path, Set<String> methods, Optional<String> bodySchema, Optional<String> okSchema,
                        boolean simulated) {}

    private static final class Bundled {
        static final ClhApiSpec SPEC = read();
    }

    private final String version;
    private final JsonNode schemas;
    private final Map<String, Route> routes;
    private final SchemaRegistry registry;
    private final Map<String, Schema> validators = new ConcurrentHashMap<>();

    private ClhApiSpec(String version, JsonNode schemas, Map<String, Route> routes, SchemaRegistry registry) {
        this.version = version;
        this.schemas = schemas;
        this.routes = Map.copyOf(routes);
        this.registry = registry;
    }

    /** The description in this jar, read once per JVM (validators are thread-safe, so every simulator shares it). */
    public static ClhApiSpec bundled() {
        return Bundled.SPEC;
    }

    private static ClhApiSpec read() {
        JsonNode doc;
        try (InputStream in = ClhApiSpec.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(RESOURCE + " is missing from the simulators jar");
            }
            doc = new ObjectMapper().readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE + ": " + e.getMessage(), e);
        }
        Map<String, Route> routes = new HashMap<>();
        doc.path("endpoints").fields().forEachRemaining(e -> routes.put(e.getKey(), new Route(e.getKey(),
                methods(e.getValue().path("methods")), text(e.getValue().path("body")),
                text(e.getValue().path("ok")), true)));
        doc.path("notSimulated").fields().forEachRemaining(e -> routes.put(e.getKey(),
                new Route(e.getKey(), methods(e.getValue()), Optional.empty(), Optional.empty(), false)));
        // the description's other top-level members are not schema keywords; say so, or the validator warns about each
        Dialect dialect = Dialect.builder(Dialects.getOpenApi30())
                .keywords(Stream.of("$comment", "vmm", "version", "apiRoot", "endpoints", "notSimulated", "schemas",
                        "$comment-notSimulated", DIFFERS).map(NonValidationKeyword::new).toList())
                .build();
        SchemaRegistry registry = SchemaRegistry.withDefaultDialect(dialect,
                b -> b.schemas(Map.of(DOCUMENT_IRI, doc.toString())));
        return new ClhApiSpec(doc.path("version").asText(), doc.path("schemas"), routes, registry);
    }

    private static Set<String> methods(JsonNode list) {
        Set<String> methods = new TreeSet<>();
        list.forEach(m -> methods.add(m.asText()));
        return methods;
    }

    private static Optional<String> text(JsonNode node) {
        return node.isTextual() ? Optional.of(node.asText()) : Optional.empty();
    }

    private static String refName(String ref) {
        return ref.substring(ref.lastIndexOf('/') + 1);
    }

    /** The Cloud Hypervisor version it describes, e.g. {@code v51.1}. */
    public String version() {
        return version;
    }

    /** The endpoint at {@code path} (without {@link #API_ROOT}), if the real VMM has it. */
    public Optional<Route> route(String path) {
        return Optional.ofNullable(routes.get(path));
    }

    public Map<String, Route> routes() {
        return routes;
    }

    /**
     * Validates {@code node} against the schema {@code schemaName}
     * ({@code DiskConfig}, {@code VmConfig}, ...), following its {@code $ref}s.
     *
     * @return the violations as one-line messages, empty when it is valid
     */
    public List<String> validate(String schemaName, JsonNode node) {
        if (!schemas.has(schemaName)) {
            throw new IllegalArgumentException("no schema '" + schemaName + "' in " + RESOURCE);
        }
        Schema schema = validators.computeIfAbsent(schemaName,
                n -> registry.getSchema(SchemaLocation.of(DOCUMENT_IRI + SCHEMAS + n)));
        return schema.validate(node).stream().map(Error::toString).toList();
    }

    /**
     * Fills in the {@code default} of every member {@code schemaName} declares and
     * {@code node} lacks, recursing into members that are objects or arrays of a
     * described schema: what serde's {@code #[serde(default)]} does when the VMM
     * reads the body, and so what {@code vm.info} later shows.
     */
    public void fillDefaults(String schemaName, JsonNode node) {
        JsonNode properties = schemas.path(schemaName).path("properties");
        if (!(node instanceof ObjectNode object) || !properties.isObject()) {
            return;
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = properties.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> p = it.next();
            JsonNode member = object.get(p.getKey());
            if (member == null) {
                if (p.getValue().has("default")) {
                    object.set(p.getKey(), p.getValue().get("default").deepCopy());
                }
                continue;
            }
            String ref = p.getValue().path("$ref").asText(p.getValue().path("items").path("$ref").asText());
            if (!ref.isEmpty()) {
                if (member.isArray()) {
                    member.forEach(element -> fillDefaults(refName(ref), element));
                } else {
                    fillDefaults(refName(ref), member);
                }
            }
        }
    }
}
