package io.hvspi.sim.clh;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaLocation;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.dialect.Dialect;
import com.networknt.schema.dialect.Dialects;
import com.networknt.schema.keyword.NonValidationKeyword;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * Cloud Hypervisor's OpenAPI document, read from the fixture file: which
 * endpoints exist, which methods and request bodies they take, and a JSON-schema
 * validator (networknt, OpenAPI 3.0 dialect) for every component schema. The
 * simulator derives its routes from it, so an endpoint the document lacks is a
 * 404 here exactly as in the real VMM.
 */
public final class ClhApiSpec {
    /** Where the API lives under the socket, as in Cloud Hypervisor's {@code HTTP_ROOT}. */
    public static final String API_ROOT = "/api/v1";

    // a name for the document inside the validator's registry; never fetched
    private static final String DOCUMENT_IRI = "https://hvspi.invalid/cloud-hypervisor/openapi.json";

    /**
     * One endpoint of the document.
     *
     * @param path e.g. {@code /vm.add-disk} (without {@link #API_ROOT})
     * @param methods the HTTP methods the document lists, upper case
     * @param bodySchema the component schema of the request body, when it takes one
     * @param bodyRequired whether the document marks the body required
     * @param okSchema the component schema of a 200 reply's body, when the document gives one
     */
    public record Route(String path, Set<String> methods, Optional<String> bodySchema, boolean bodyRequired,
                        Optional<String> okSchema) {}

    private final Path file;
    private final JsonNode schemas;
    private final Map<String, Route> routes;
    private final Set<String> schemaNames;
    private final SchemaRegistry registry;
    private final Map<String, Schema> validators = new ConcurrentHashMap<>();

    private ClhApiSpec(Path file, JsonNode schemas, Map<String, Route> routes, Set<String> schemaNames,
                       SchemaRegistry registry) {
        this.file = file;
        this.schemas = schemas;
        this.routes = Map.copyOf(routes);
        this.schemaNames = Set.copyOf(schemaNames);
        this.registry = registry;
    }

    // parsed documents by file: every simulator of a test run shares one (validators are thread-safe)
    private static final Map<Path, ClhApiSpec> LOADED = new ConcurrentHashMap<>();

    /**
     * Reads and checks the document (once per file and JVM); fails with the file
     * name when it is not an OpenAPI 3.0 document with paths.
     */
    public static ClhApiSpec load(Path file) {
        return LOADED.computeIfAbsent(file.toAbsolutePath().normalize(), ClhApiSpec::read);
    }

    private static ClhApiSpec read(Path file) {
        JsonNode doc;
        try {
            doc = new YAMLMapper().readTree(Files.readAllBytes(file));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read Cloud Hypervisor OpenAPI document " + file + ": " + e.getMessage(), e);
        }
        if (doc == null || !doc.path("openapi").asText().startsWith("3.0") || !doc.path("paths").isObject()) {
            throw new IllegalArgumentException(file + ": not an OpenAPI 3.0 document with paths");
        }
        Map<String, Route> routes = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = doc.path("paths").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            Set<String> methods = new TreeSet<>();
            Optional<String> body = Optional.empty();
            Optional<String> ok = Optional.empty();
            boolean required = false;
            for (Iterator<Map.Entry<String, JsonNode>> ops = e.getValue().fields(); ops.hasNext(); ) {
                Map.Entry<String, JsonNode> op = ops.next();
                methods.add(op.getKey().toUpperCase(Locale.ROOT));
                JsonNode rb = op.getValue().path("requestBody");
                if (!rb.isMissingNode()) {
                    String ref = rb.path("content").path("application/json").path("schema").path("$ref").asText();
                    body = Optional.of(refName(ref));
                    required = rb.path("required").asBoolean(false);
                }
                String okRef = op.getValue().path("responses").path("200").path("content").path("application/json")
                        .path("schema").path("$ref").asText();
                if (!okRef.isEmpty()) {
                    ok = Optional.of(refName(okRef));
                }
            }
            routes.put(e.getKey(), new Route(e.getKey(), methods, body, required, ok));
        }
        Set<String> names = new TreeSet<>();
        doc.path("components").path("schemas").fieldNames().forEachRemaining(names::add);
        String json;
        try {
            json = new ObjectMapper().writeValueAsString(doc);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        // the document's top-level members are not schema keywords; say so, or the validator warns about each
        Dialect dialect = Dialect.builder(Dialects.getOpenApi30())
                .keywords(Stream.of("openapi", "info", "servers", "paths", "components")
                        .map(NonValidationKeyword::new).toList())
                .build();
        SchemaRegistry registry = SchemaRegistry.withDefaultDialect(dialect, b -> b.schemas(Map.of(DOCUMENT_IRI, json)));
        return new ClhApiSpec(file, doc.path("components").path("schemas"), routes, names, registry);
    }

    private static String refName(String ref) {
        return ref.substring(ref.lastIndexOf('/') + 1);
    }

    /** The file it was read from. */
    public Path file() {
        return file;
    }

    /** The endpoint at {@code path} (without {@link #API_ROOT}), if the document has it. */
    public Optional<Route> route(String path) {
        return Optional.ofNullable(routes.get(path));
    }

    public Map<String, Route> routes() {
        return routes;
    }

    /**
     * Validates {@code node} against the component schema {@code schemaName}
     * ({@code DiskConfig}, {@code VmConfig}, ...), following its {@code $ref}s.
     *
     * @return the violations as one-line messages, empty when it is valid
     */
    public List<String> validate(String schemaName, JsonNode node) {
        if (!schemaNames.contains(schemaName)) {
            throw new IllegalArgumentException("no schema '" + schemaName + "' in " + file);
        }
        Schema schema = validators.computeIfAbsent(schemaName,
                n -> registry.getSchema(SchemaLocation.of(DOCUMENT_IRI + "#/components/schemas/" + n)));
        return schema.validate(node).stream().map(Error::toString).toList();
    }

    /**
     * Fills in the {@code default} of every member {@code schemaName} declares and
     * {@code node} lacks, recursing into members that are objects or arrays of a
     * component schema: what serde's {@code #[serde(default)]} does when the VMM
     * reads the body, and so what {@code vm.info} later shows.
     */
    public void fillDefaults(String schemaName, JsonNode node) {
        JsonNode properties = schemas.path(schemaName).path("properties");
        if (!(node instanceof com.fasterxml.jackson.databind.node.ObjectNode object) || !properties.isObject()) {
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
