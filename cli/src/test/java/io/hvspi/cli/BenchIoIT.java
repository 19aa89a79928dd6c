package io.hvspi.cli;

import static io.hvspi.cli.HvctlRunner.hvctl;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.NodeList;

/**
 * {@code hvctl bench io}, as small as it gets (one disk, one mode, fio for 1 s): it
 * boots the test guest through the packaged plugin, reports IOPS and thread CPU
 * time, writes the JSON and the chart, and leaves no VM behind. No speed is asserted.
 */
class BenchIoIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    @Tag("guest")
    void benchIoBootsTheGuestMeasuresOneCaseAndWritesJsonAndChart() throws Exception {
        Path runtime = tmp.resolve("run");
        Path out = tmp.resolve("out");
        HvctlRunner.Result r = hvctl("bench", "io", "--disks", "1", "--modes", "least-loaded", "--runtime", "1",
                "--accel", "tcg", "--json", "--out", out.toString(), "--runtime-dir", runtime.toString());
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.err().contains("case 1/1: least-loaded, 1 disk: booting the guest"), r.err());

        JsonNode doc = JSON.readTree(r.out());
        assertEquals(doc, JSON.readTree(out.resolve("bench-io.json").toFile()), "stdout and the file agree");
        assertEquals("tcg", doc.at("/machine/accel").asText());
        assertEquals(1, doc.get("cases").size());
        JsonNode c = doc.get("cases").get(0);
        assertEquals("least-loaded", c.get("mode").asText());
        assertTrue(c.get("iops").asLong() > 0, c.toString());
        assertEquals("indep_iothread_0", c.at("/placement/disk0/0").asText());
        assertTrue(c.at("/cpu/vcpu").asDouble() > 0, "the vCPU ran fio: " + c);
        List<String> roles = new ArrayList<>();
        c.get("threads").forEach(t -> roles.add(t.get("role").asText() + ":" + t.get("owner").asText()));
        assertTrue(roles.containsAll(List.of("MAIN:", "VCPU:vcpu0", "IOTHREAD:indep_iothread_0")), roles.toString());

        Document svg = DocumentBuilderFactory.newInstance().newDocumentBuilder()
                .parse(out.resolve("bench-io.svg").toFile());
        assertEquals("svg", svg.getDocumentElement().getTagName());
        NodeList titles = svg.getElementsByTagName("title");
        assertEquals(1, titles.getLength(), "one bar");
        assertTrue(titles.item(0).getTextContent().startsWith("least-loaded, 1 disk: "),
                titles.item(0).getTextContent());

        try (Stream<Path> left = Files.list(runtime)) {
            // .locks is the host's own: lock files outlive their VMs by design
            assertEquals(List.of(), left.filter(f -> !f.getFileName().toString().equals(".locks")).toList(),
                    "every VM's runtime directory is gone");
        }
    }

    @Test
    void helpNamesTheOptionsAndTheFilesItWrites() {
        HvctlRunner.Result r = hvctl("bench", "io", "--help");
        assertEquals(ExitCode.OK, r.exit(), r::toString);
        for (String expected : List.of("--disks", "--modes", "--runtime", "--accel", "--out", "bench-io.svg")) {
            assertTrue(r.out().contains(expected), expected + " in:\n" + r.out());
        }
    }

    @Test
    void badModesAndCountsAreUsageErrors() {
        HvctlRunner.Result mode = hvctl("bench", "io", "--modes", "main,fastest");
        assertEquals(ExitCode.USAGE, mode.exit(), mode::toString);
        assertTrue(mode.err().contains("unknown mode 'fastest' (expected main, first or least-loaded)"), mode.err());
        HvctlRunner.Result disks = hvctl("bench", "io", "--disks", "0");
        assertEquals(ExitCode.USAGE, disks.exit(), disks::toString);
        assertTrue(disks.err().contains("--disks") && disks.err().contains("'0' is out of range"), disks.err());
        HvctlRunner.Result many = hvctl("bench", "io", "--disks", "17");
        assertEquals(ExitCode.USAGE, many.exit(), many::toString);
        assertTrue(many.err().contains("'17' is out of range: expected 1 to 16"), many.err());
    }

    /** Every benchmark drives QEMU beside hvspi: another hypervisor's binary would get QEMU's arguments. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"io", "hotplug", "scale"})
    void aConfigForAnotherHypervisorIsRefusedBeforeAnythingStarts(String bench) throws IOException {
        HvctlRunner.Result r = hvctl("bench", bench, HvctlRunner.fixture("configuration-clh.toml").toString(),
                "--runtime-dir", tmp.resolve("run").toString());
        assertEquals(ExitCode.CONFIG, r.exit(), r::toString);
        assertTrue(r.err().contains("; this config selects 'clh'"), r.err());
    }
}
