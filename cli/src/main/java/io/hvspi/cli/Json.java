package io.hvspi.cli;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.POJONode;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.Map;

/**
 * {@code --json} output: one pretty-printed document on stdout.
 *
 * <p>A tree is printed by walking it with a generator, as the mapper with {@code INDENT_OUTPUT}
 * would print it, byte for byte (JsonTest holds the two equal). The mapper is built only for a
 * document that holds objects rather than nodes alone (the bench reports): its first use loads
 * about 500 classes from Jackson's jars, two fifths of the CPU of {@code hvctl plugins --json}.
 */
final class Json {
    private static final JsonFactory FACTORY = new JsonFactory();

    private Json() {}

    static ObjectNode object() {
        return JsonNodeFactory.instance.objectNode();
    }

    static ArrayNode array() {
        return JsonNodeFactory.instance.arrayNode();
    }

    /** The mapper, for documents made of objects; built on first use. */
    static ObjectMapper mapper() {
        return Mapper.INSTANCE;
    }

    /** A tree by walking it; any other document (a bench report) through the mapper. */
    static void print(PrintWriter out, Object document) {
        StringWriter text = new StringWriter();
        try {
            if (document instanceof JsonNode tree) {
                try (JsonGenerator g = FACTORY.createGenerator(text).useDefaultPrettyPrinter()) {
                    write(g, tree);
                }
            } else {
                mapper().writer().writeValue(text, document);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        out.println(text);
        out.flush();
    }

    // the plugin kit's JsonLineChannel walks trees the same way; plugins shade the kit and the host does not load it
    private static void write(JsonGenerator g, JsonNode node) throws IOException {
        switch (node.getNodeType()) {
            case OBJECT -> {
                g.writeStartObject();
                for (Map.Entry<String, JsonNode> field : node.properties()) {
                    g.writeFieldName(field.getKey());
                    write(g, field.getValue());
                }
                g.writeEndObject();
            }
            case ARRAY -> {
                g.writeStartArray();
                for (JsonNode element : node) {
                    write(g, element);
                }
                g.writeEndArray();
            }
            case STRING -> g.writeString(node.textValue());
            case BOOLEAN -> g.writeBoolean(node.booleanValue());
            case NULL, MISSING -> g.writeNull();
            case NUMBER -> node.serialize(g, null); // each numeric node writes its own kind of number
            case POJO -> mapper().writeValue(g, ((POJONode) node).getPojo());
            case BINARY -> g.writeBinary(node.binaryValue());
        }
    }

    private static final class Mapper {
        static final ObjectMapper INSTANCE = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    }
}
