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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code hvctl bench hotplug}, a few iterations: it runs, reports every step, and cleans up. No speed is asserted. */
class BenchHotplugIT {
    @TempDir
    Path tmp;

    @Test
    void benchHotplugReportsEachStepAgainstTheRawClientAndLeavesNothing() throws IOException {
        Path runtime = tmp.resolve("run");
        HvctlRunner.Result r = hvctl("bench", "hotplug", "--accel", "tcg", "--iterations", "3", "--warmup", "1",
                "--starts", "1", "--json", "--runtime-dir", runtime.toString());
        assertEquals(0, r.exit(), r::toString);
        JsonNode doc = new ObjectMapper().readTree(r.out());
        List<String> steps = new ArrayList<>();
        for (JsonNode m : doc.get("metrics")) {
            steps.add(m.get("name").asText());
            assertTrue(m.get("ratio").asDouble() > 0, m.toString());
            assertTrue(m.get("pairedRatio").asDouble() > 0, m.toString());
            assertEquals(m.get("name").asText().equals("start") ? 1 : 3, m.get("hvspi").get("count").asInt());
            if (m.get("name").asText().equals("start")) {
                // one pair: its ratio is both
                assertEquals(m.get("ratio").asDouble(), m.get("pairedRatio").asDouble(), 0.0015, m.toString());
            }
            assertTrue(m.get("raw").get("medianMs").asDouble() > 0, m.toString());
        }
        // the NIC step needs taps, which need root (/dev/net/tun)
        boolean taps = Files.isWritable(Path.of("/dev/net/tun"));
        assertEquals(taps ? List.of("hotplug", "hotplug-with-lock", "hotplug-no-state-file", "nic-hotplug",
                "qmp-round-trip", "start") : List.of("hotplug", "hotplug-with-lock", "hotplug-no-state-file",
                "qmp-round-trip", "start"), steps);
        assertTrue(doc.get("machine").get("qemu").asText().startsWith(InstalledQemu.majorMinor() + "."),
                doc.get("machine").toString());
        // the JIT options the ratios depend on follow the version (this JVM is the test's, with none of bin/hvctl's)
        assertTrue(doc.get("machine").get("java").asText().startsWith(Runtime.version().toString()),
                doc.get("machine").toString());
        RunLeftovers.assertNone(runtime, "bench hotplug");
    }

    /**
     * SIGTERM while the starts are measured (an hvspi or a raw start in flight) and while the
     * attaches are (three QEMUs up: the host's VM, the in-memory VM the host does not know, the
     * raw side's): exit 143, and no QEMU or runtime directory of the run is left.
     */
    @ParameterizedTest
    @ValueSource(strings = {"VM start to QMP ready", "hotplug: ", "NIC hotplug: "})
    void terminatingItMidRunLeavesNothing(String marker) throws Exception {
        boolean taps = Files.isWritable(Path.of("/dev/net/tun"));
        org.junit.jupiter.api.Assumptions.assumeTrue(taps || !marker.startsWith("NIC"), "no taps without root");
        List<String> tapsBefore = benchTaps();
        Path runtime = tmp.resolve("run");
        // enough iterations that the step is still running at the SIGTERM; fewer before the NIC step,
        // which comes after the disk hotplug's (200 of those took half a minute under TCG)
        String iterations = marker.startsWith("NIC") ? "40" : "200";
        HvctlRunner.Result r = HvctlRunner.terminatedAt(marker, List.of("bench", "hotplug", "--accel", "tcg",
                "--iterations", iterations, "--warmup", "1", "--starts", marker.startsWith("NIC") ? "1" : "20",
                "--runtime-dir", runtime.toString()));
        assertEquals(143, r.exit(), r::toString);
        RunLeftovers.assertNone(runtime, "SIGTERM after '" + marker + "'");
        // the NIC step's two taps (made before its progress line) go with the exit hook too
        assertEquals(tapsBefore, benchTaps(), "taps left after SIGTERM after '" + marker + "'");
    }

    /** The network interfaces named as the NIC step names its taps (hvbf..., hvbr...). */
    private static List<String> benchTaps() throws IOException {
        try (var names = Files.list(Path.of("/sys/class/net"))) {
            return names.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("hvbf") || n.startsWith("hvbr"))
                    .sorted().toList();
        }
    }
}
