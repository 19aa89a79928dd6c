package io.hvspi.tck.compat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.spi.Capability;
import java.io.UncheckedIOException;
import java.util.Collection;

/**
 * {@code compat.json}: the matrix for machines. Schema {@code hvspi-compat/1}:
 * {@code plugins} (columns, with status, declared and effective capabilities,
 * counts and time), {@code notLoaded} (jars that did not load, with the reason),
 * {@code conflicts} (types claimed by several plugins), {@code capabilities} (a verdict per plugin), {@code tests}
 * (rows, with a result per plugin) and {@code exitCode}.
 */
public final class JsonReportWriter {
    /** Names this format; bump on an incompatible change. */
    public static final String SCHEMA = "hvspi-compat/1";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private JsonReportWriter() {}

    public static String write(CompatReport report) {
        ObjectNode root = JSON.createObjectNode();
        root.put("schema", SCHEMA);
        root.put("generatedAt", report.generatedAt().toString());
        root.put("spiVersion", report.spiVersion());
        root.put("host", report.host());
        root.put("exitCode", report.exitCode());

        ArrayNode plugins = root.putArray("plugins");
        for (PluginRun run : report.plugins()) {
            ObjectNode p = plugins.addObject();
            p.put("id", run.pluginId());
            p.put("type", run.type());
            p.put("version", run.version());
            p.put("description", run.description());
            p.put("status", run.status().key());
            run.reason().ifPresentOrElse(r -> p.put("reason", r), () -> p.putNull("reason"));
            p.put("backend", run.backend());
            keys(p.putArray("declared"), run.declared());
            run.effective().ifPresentOrElse(e -> keys(p.putArray("effective"), e), () -> p.putNull("effective"));
            p.put("durationMs", run.duration().toMillis());
            ObjectNode counts = p.putObject("counts");
            run.counts().forEach((o, n) -> counts.put(o.key(), n));
        }

        ArrayNode notLoaded = root.putArray("notLoaded");
        report.notLoaded().forEach(n -> notLoaded.addObject().put("file", n.file()).put("reason", n.reason()));
        ArrayNode conflicts = root.putArray("conflicts");
        for (CompatReport.Conflict c : report.conflicts()) {
            ObjectNode n = conflicts.addObject().put("type", c.type()).put("message", c.message());
            c.claimants().forEach(n.putArray("claimants")::add);
        }

        ArrayNode caps = root.putArray("capabilities");
        for (Capability c : Capability.values()) {
            ObjectNode n = caps.addObject();
            n.put("key", c.key());
            n.put("label", c.label());
            n.put("kata", c.isKataCapability());
            var tests = report.testsFor(c);
            n.put("exercised", !tests.isEmpty());
            ArrayNode ids = n.putArray("tests");
            tests.forEach(t -> ids.add(t.id()));
            ObjectNode verdicts = n.putObject("plugins");
            for (PluginRun run : report.plugins()) {
                verdicts.put(run.type(), run.verdict(c, tests).key());
            }
        }

        ArrayNode tests = root.putArray("tests");
        for (TestCase t : report.tests()) {
            ObjectNode n = tests.addObject();
            n.put("id", t.id());
            n.put("group", t.group());
            n.put("contract", t.contract());
            n.put("name", t.name());
            t.capability().ifPresentOrElse(c -> n.put("capability", c.key()), () -> n.putNull("capability"));
            ObjectNode results = n.putObject("results");
            for (PluginRun run : report.plugins()) {
                run.result(t).ifPresentOrElse(r -> {
                    ObjectNode cell = results.putObject(run.type());
                    cell.put("outcome", r.outcome().key());
                    cell.put("durationMs", r.duration().toMillis());
                    r.message().ifPresentOrElse(m -> cell.put("message", m), () -> cell.putNull("message"));
                }, () -> results.putNull(run.type()));
            }
        }
        try {
            return JSON.writeValueAsString(root) + "\n";
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void keys(ArrayNode array, Collection<Capability> caps) {
        caps.stream().sorted().forEach(c -> array.add(c.key()));
    }
}
