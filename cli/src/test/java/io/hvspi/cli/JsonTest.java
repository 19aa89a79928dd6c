package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Json prints a tree without the mapper; what it prints must be what the mapper prints. */
class JsonTest {
    private static final ObjectMapper ORACLE = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    record Sample(String name, double ratio, List<Long> samples, Map<String, Integer> counts) {}

    private static String printed(Object document) {
        StringWriter text = new StringWriter();
        Json.print(new PrintWriter(text), document);
        return text.toString();
    }

    private static void assertAsTheMapperPrints(JsonNode document) throws Exception {
        assertEquals(ORACLE.writeValueAsString(document) + System.lineSeparator(), printed(document));
    }

    @Test
    void everyKindOfNodeIsPrintedAsTheMapperPrintsIt() throws Exception {
        ObjectNode doc = Json.object();
        doc.put("text", "quotes \" backslash \\ newline \n tab \t control \u0001 unicode é ✓ 𝄞")
                .put("int", -7).put("long", 1L << 40).put("double", 0.1).put("wholeDouble", 2.0)
                .put("float", 1.5f).put("decimal", new BigDecimal("1.10")).put("big", new BigInteger("123456789012345678901234567890"))
                .put("yes", true).put("no", false).putNull("nothing");
        doc.putObject("empty object");
        doc.putArray("empty array");
        ArrayNode nested = doc.putArray("nested");
        nested.add(1).add("two").addNull().addObject().put("deep", Json.array().add(Json.object()).toString());
        nested.addArray().addArray().add(3.25);
        doc.put("bytes", new byte[] {0, 1, 2, (byte) 255});
        assertAsTheMapperPrints(doc);
        assertAsTheMapperPrints(Json.array());
        assertAsTheMapperPrints(Json.object());
    }

    @Test
    void objectsInsideATreeArePrintedByTheMapperInPlace() throws Exception {
        ObjectNode doc = Json.object().put("before", 1);
        doc.putPOJO("sample", new Sample("hotplug", 1.04, List.of(3L, 4L), Map.of("ok", 2)));
        doc.putArray("after").addPOJO(new Sample("start", 1.1, List.of(), Map.of()));
        assertAsTheMapperPrints(doc);
    }

    @Test
    void aDocumentThatIsAnObjectIsPrintedByTheMapper() throws Exception {
        Sample s = new Sample("qmp", 1.15, List.of(1L), Map.of("n", 1));
        assertEquals(ORACLE.writeValueAsString(s) + System.lineSeparator(), printed(s));
    }
}
