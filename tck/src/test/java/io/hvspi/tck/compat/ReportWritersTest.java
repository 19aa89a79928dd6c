package io.hvspi.tck.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hvspi.spi.Capability;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The three writers on a small report built by hand: structure, every kind of cell, escaping. */
class ReportWritersTest {
    static final TestCase START = new TestCase("lifecycle.start", "lifecycle", "Lifecycle", "start runs the VM",
            Optional.empty());
    static final TestCase ATTACH = new TestCase("hotplug.attach", "hotplug", "Block hotplug", "attach, list and detach",
            Optional.of(Capability.BLOCK_DEVICE_HOTPLUG));
    static final TestCase POOL = new TestCase("iothreads.pool", "iothreads", "IOThreads", "the pool has <3> | threads",
            Optional.of(Capability.INDEPENDENT_IOTHREADS));
    static final TestCase VQ = new TestCase("iothreads.vq", "iothreads", "IOThreads", "vq-mapping spreads queues",
            Optional.of(Capability.IOTHREAD_VQ_MAPPING));
    static final TestCase STOPPED = new TestCase("errors.stopped", "errors", "Error contracts", "a stopped VM refuses",
            Optional.empty());

    static TestResult passed(long ms) {
        return new TestResult(TestResult.Outcome.PASSED, Optional.empty(), Duration.ofMillis(ms));
    }

    static TestResult unsupported(String cap) {
        return new TestResult(TestResult.Outcome.UNSUPPORTED, Optional.of(cap), Duration.ofMillis(3));
    }

    static final CompatReport REPORT = new CompatReport(Instant.parse("2026-11-29T06:00:00Z"), "1.0.0", "Linux test",
            List.of(START, ATTACH, POOL, VQ, STOPPED),
            List.of(
                    new PluginRun("qemu", "qemu", "1.0.0", "QEMU over QMP", PluginRun.Status.TESTED, Optional.empty(),
                            "QEMU 7.2, accel=tcg",
                            Set.of(Capability.BLOCK_DEVICE, Capability.BLOCK_DEVICE_HOTPLUG,
                                    Capability.INDEPENDENT_IOTHREADS, Capability.IOTHREAD_VQ_MAPPING),
                            Optional.of(Set.of(Capability.BLOCK_DEVICE, Capability.BLOCK_DEVICE_HOTPLUG,
                                    Capability.INDEPENDENT_IOTHREADS)),
                            Duration.ofMillis(1234),
                            Map.of(START.id(), passed(20), ATTACH.id(), passed(12),
                                    POOL.id(), new TestResult(TestResult.Outcome.FAILED,
                                            Optional.of("expected: <3> but was: <2> & <script>"), Duration.ofMillis(7)),
                                    VQ.id(), unsupported("iothread-vq-mapping"), STOPPED.id(), passed(4))),
                    new PluginRun("cloud-hypervisor", "clh", "1.0.0", "Cloud Hypervisor", PluginRun.Status.UNAVAILABLE,
                            Optional.of("no clh simulator in this build"), "none",
                            Set.of(Capability.BLOCK_DEVICE, Capability.BLOCK_DEVICE_HOTPLUG), Optional.empty(),
                            Duration.ZERO, Map.of()),
                    new PluginRun("third", "third", "0.1", "a third party's", PluginRun.Status.TESTED, Optional.empty(),
                            "plugin defaults", Set.of(Capability.BLOCK_DEVICE, Capability.BLOCK_DEVICE_HOTPLUG),
                            Optional.of(Set.of(Capability.BLOCK_DEVICE, Capability.BLOCK_DEVICE_HOTPLUG)),
                            Duration.ofMillis(500),
                            Map.of(START.id(), passed(5), ATTACH.id(), passed(6),
                                    POOL.id(), unsupported("independent-iothreads"),
                                    VQ.id(), unsupported("independent-iothreads"),
                                    STOPPED.id(), new TestResult(TestResult.Outcome.SKIPPED, Optional.of("assumption"),
                                            Duration.ZERO)))));

    /** The same matrix, with a jar that did not load and a type two plugins claim. */
    static final CompatReport WITH_PROBLEMS = new CompatReport(REPORT.generatedAt(), REPORT.spiVersion(), REPORT.host(),
            REPORT.tests(), REPORT.plugins(),
            List.of(new CompatReport.NotLoaded("plugins/old.jar", "requires SPI >=2.0.0, but this host has SPI 1.0.0")),
            List.of(new CompatReport.Conflict("acme", List.of("'acme' (plugins/acme.jar)", "'acme-fork' (plugins/fork.jar)"),
                    "hypervisor type 'acme' is claimed by 2 plugins: 'acme' (plugins/acme.jar) and 'acme-fork'"
                            + " (plugins/fork.jar); remove all but one")));

    @Test
    void everyFormatListsTheJarsThatDidNotLoadAndTheConflicts() throws Exception {
        JsonNode doc = new ObjectMapper().readTree(JsonReportWriter.write(WITH_PROBLEMS));
        assertEquals("plugins/old.jar", doc.get("notLoaded").get(0).get("file").asText());
        assertEquals("requires SPI >=2.0.0, but this host has SPI 1.0.0", doc.get("notLoaded").get(0).get("reason").asText());
        assertEquals("acme", doc.get("conflicts").get(0).get("type").asText());
        assertEquals(2, doc.get("conflicts").get(0).get("claimants").size());
        assertEquals(1, doc.get("exitCode").asInt(), "a conflict fails the run");
        String md = MarkdownReportWriter.write(WITH_PROBLEMS);
        assertTrue(md.contains("| plugins/old.jar | requires SPI >=2.0.0, but this host has SPI 1.0.0 |"), md);
        assertTrue(md.contains("- hypervisor type 'acme' is claimed by 2 plugins"), md);
        String html = HtmlReportWriter.write(WITH_PROBLEMS);
        assertTrue(html.contains("<code>plugins/old.jar</code></td><td>requires SPI &gt;=2.0.0"), html);
        assertTrue(html.contains("<li>hypervisor type &#39;acme&#39; is claimed by 2 plugins"), html);
        JsonNode clean = new ObjectMapper().readTree(JsonReportWriter.write(REPORT));
        assertEquals(0, clean.get("notLoaded").size());
        assertEquals(0, clean.get("conflicts").size());
    }

    @Test
    void groupsPutLifecycleFirstThenEveryCapabilityThenTheRest() {
        List<String> keys = REPORT.groups().stream().map(CompatReport.Group::key).toList();
        assertEquals("lifecycle", keys.get(0));
        assertEquals(Capability.values().length + 2, keys.size());
        assertEquals("block-device", keys.get(1));
        assertEquals("errors", keys.get(keys.size() - 1));
    }

    @Test
    void verdictsSeparateDeclaredAbsentFromUnsupportedAndFailed() {
        PluginRun qemu = REPORT.plugins().get(0);
        PluginRun third = REPORT.plugins().get(2);
        assertEquals(CapabilityVerdict.FAILED, qemu.verdict(Capability.INDEPENDENT_IOTHREADS, List.of(POOL)));
        assertEquals(CapabilityVerdict.ABSENT_HERE, qemu.verdict(Capability.IOTHREAD_VQ_MAPPING, List.of(VQ)));
        assertEquals(CapabilityVerdict.UNSUPPORTED, third.verdict(Capability.INDEPENDENT_IOTHREADS, List.of(POOL)));
        assertEquals(CapabilityVerdict.DECLARED_NOT_EXERCISED, third.verdict(Capability.BLOCK_DEVICE, List.of()));
        assertEquals(CapabilityVerdict.NOT_DECLARED, third.verdict(Capability.FS_SHARING, List.of()));
        assertEquals(CapabilityVerdict.UNAVAILABLE,
                REPORT.plugins().get(1).verdict(Capability.BLOCK_DEVICE_HOTPLUG, List.of(ATTACH)));
        assertEquals(1, REPORT.exitCode());
    }

    @Test
    void jsonHasPluginsCapabilitiesAndTestsWithACellPerPlugin() throws Exception {
        JsonNode doc = new ObjectMapper().readTree(JsonReportWriter.write(REPORT));
        assertEquals("hvspi-compat/1", doc.get("schema").asText());
        assertEquals(1, doc.get("exitCode").asInt());
        JsonNode qemu = doc.get("plugins").get(0);
        assertEquals("tested", qemu.get("status").asText());
        assertEquals(1234, qemu.get("durationMs").asInt());
        assertEquals(3, qemu.get("counts").get("passed").asInt());
        assertEquals(1, qemu.get("counts").get("failed").asInt());
        assertEquals("[\"block-device\",\"block-device-hotplug\",\"independent-iothreads\"]",
                qemu.get("effective").toString());
        JsonNode clh = doc.get("plugins").get(1);
        assertEquals("unavailable", clh.get("status").asText());
        assertEquals("no clh simulator in this build", clh.get("reason").asText());
        assertTrue(clh.get("effective").isNull());

        assertEquals(Capability.values().length, doc.get("capabilities").size());
        JsonNode vq = find(doc.get("capabilities"), "key", "iothread-vq-mapping");
        assertEquals("absent-here", vq.get("plugins").get("qemu").asText());
        assertEquals("not-declared", find(doc.get("capabilities"), "key", "fs-sharing").get("plugins").get("qemu").asText());
        assertEquals(false, find(doc.get("capabilities"), "key", "fs-sharing").get("exercised").asBoolean());

        assertEquals(5, doc.get("tests").size());
        JsonNode pool = find(doc.get("tests"), "id", "iothreads.pool");
        assertEquals("independent-iothreads", pool.get("group").asText());
        assertEquals("failed", pool.get("results").get("qemu").get("outcome").asText());
        assertEquals("expected: <3> but was: <2> & <script>", pool.get("results").get("qemu").get("message").asText());
        assertEquals("unsupported", pool.get("results").get("third").get("outcome").asText());
        assertTrue(pool.get("results").get("clh").isNull(), "an unavailable plugin has no cell");
    }

    @Test
    void markdownHasAPluginTableACapabilityMatrixAndFailures() {
        String md = MarkdownReportWriter.write(REPORT);
        assertTrue(md.contains("Result: **FAIL** (exit 1)"), md);
        assertTrue(md.contains("| qemu | qemu | 1.0.0 | tested | QEMU 7.2, accel=tcg | 3 | 1 | 1 | 0 | 1.2 s |"), md);
        assertTrue(md.contains("| cloud-hypervisor | clh | 1.0.0 | unavailable: no clh simulator in this build | none |"), md);
        assertTrue(md.contains("| independent IOThreads (`independent-iothreads`) | ❌ **failed** | unavailable | ➖ unsupported |"), md);
        assertTrue(md.contains("| IOThread vq-mapping (`iothread-vq-mapping`) | ◻️ declared, absent here |"), md);
        assertTrue(md.contains("| the pool has <3> \\| threads | ❌ expected: <3> but was: <2> & <script> | unavailable |"), md);
        assertTrue(md.contains("## Failures\n\n- **qemu** `iothreads.pool`: expected"), md);
        for (String line : md.split("\n")) {
            if (line.startsWith("| ") && !line.startsWith("|---")) {
                assertTrue(line.endsWith("|"), () -> "a table row must be closed: " + line);
            }
        }
    }

    @Test
    void htmlIsOneSelfContainedPageWithTheMatrixEscaped() {
        String html = HtmlReportWriter.write(REPORT);
        assertTrue(html.startsWith("<!DOCTYPE html>"));
        assertTrue(html.contains("<style>"), "inline CSS");
        assertFalse(html.contains("<link"), "no external stylesheet");
        assertFalse(html.contains("<script"), "no script, and the failure text is escaped");
        assertFalse(html.contains("src=\"http"), "no external asset");
        assertTrue(html.contains("<th>qemu</th><th>clh</th><th>third</th>"), "one column per plugin");
        assertTrue(html.contains("expected: &lt;3&gt; but was: &lt;2&gt; &amp; &lt;script&gt;"));
        assertTrue(html.contains("the pool has &lt;3&gt; | threads"));
        assertTrue(html.contains("<span class=\"pill absent\">declared, absent here</span>"));
        assertTrue(html.contains("unavailable</span>: no clh simulator in this build"));
        assertTrue(html.contains("1.2 s</b> total"), "timings per plugin");
        assertTrue(html.contains("<span class=\"ms\">20 ms</span>"), "timings per test");
        assertTrue(html.contains("FAIL"));
    }

    private static JsonNode find(JsonNode array, String field, String value) {
        for (JsonNode n : array) {
            if (n.get(field).asText().equals(value)) {
                return n;
            }
        }
        throw new AssertionError("no element with " + field + "=" + value + " in " + array);
    }
}
