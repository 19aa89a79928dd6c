package io.hvspi.cli;

import static io.hvspi.cli.HvctlRunner.hvctl;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hvspi.cli.bench.ScaleBench;
import io.hvspi.cli.bench.ScaleReport;
import io.hvspi.core.host.HvspiHost;
import io.hvspi.spi.VmSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code hvctl bench scale}, small: it runs, reports every phase and footprint, and
 * leaves no QEMU, runtime directory or socket behind, also when a run fails or the
 * process is terminated midway. No speed is asserted.
 */
class BenchScaleIT {
    @TempDir
    Path tmp;

    /** A failed test must not leave QEMU running: ends what names this test's directory (hvctl, its QEMUs). */
    @AfterEach
    void endLeftovers() throws Exception {
        for (ProcessHandle h : RunLeftovers.processesNaming(tmp)) {
            h.destroyForcibly();
            h.onExit().get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void benchScaleReportsEveryPhaseAndFootprintAndLeavesNothing() throws IOException {
        Path runtime = tmp.resolve("run");
        Path out = tmp.resolve("out");
        HvctlRunner.Result r = hvctl("bench", "scale", "--vms", "2", "--disks", "2", "--warmup", "2", "--accel", "tcg",
                "--json",
                "--out", out.toString(), "--runtime-dir", runtime.toString());
        assertEquals(0, r.exit(), r::toString);
        JsonNode doc = new ObjectMapper().readTree(r.out());
        assertEquals(doc, new ObjectMapper().readTree(out.resolve(ScaleReport.JSON_FILE).toFile()));
        assertTrue(Files.readString(out.resolve(ScaleReport.MARKDOWN_FILE)).contains("| attach | 4 |"));

        assertEquals(2, doc.at("/settings/vms").asInt());
        assertEquals(2, doc.at("/settings/disksPerVm").asInt());
        assertTrue(doc.at("/settings/hotplugSlots").asInt() >= 2, doc.at("/settings").toString());
        assertEquals(2, doc.at("/start/operations").asInt());
        assertEquals(4, doc.at("/hotplug/operations").asInt());
        assertEquals(2, doc.at("/stop/operations").asInt());
        for (String phase : List.of("start", "hotplug", "stop")) {
            JsonNode l = doc.get(phase).get("latency");
            assertTrue(0 < l.get("p50Ms").asDouble() && l.get("p50Ms").asDouble() <= l.get("p90Ms").asDouble()
                    && l.get("p90Ms").asDouble() <= l.get("p99Ms").asDouble()
                    && l.get("p99Ms").asDouble() <= l.get("maxMs").asDouble(), l.toString());
            assertTrue(doc.get(phase).get("perSecond").asDouble() > 0, phase);
        }
        // each VM holds a QMP connection with its reader thread, and QEMU runs with memory of its own
        assertTrue(doc.at("/jvm/threadsAdded").toString().contains("json-line-reader"), doc.at("/jvm").toString());
        assertTrue(doc.at("/jvm/openFilesPerVm").asDouble() >= 1, doc.at("/jvm").toString());
        assertTrue(doc.at("/vmm/loaded/rssMeanMib").asDouble() > 1, doc.at("/vmm").toString());
        assertTrue(doc.at("/vmm/loaded/threadsMean").asDouble() >= 1, doc.at("/vmm").toString());
        // the VMMs' CPU is read in clock ticks (10 ms): four attaches may take less than one, a QEMU start never does
        assertTrue(doc.at("/startCpu/vmmSeconds").asDouble() > 0, doc.at("/startCpu").toString());
        assertTrue(doc.at("/hotplugCpu/vmmSeconds").isNumber(), doc.at("/hotplugCpu").toString());
        assertTrue(doc.at("/machine/vmm").asText().startsWith(InstalledQemu.majorMinor() + "."),
                doc.at("/machine").toString());
        assertTrue(r.err().contains("attached 4/4 disks"), r.err());
        assertNothingLeft(runtime);
    }

    @Test
    void aRunThatFailsMidwayStopsEveryVmItStarted() {
        Path runtime = tmp.resolve("run");
        VmSpec spec = ConfigCommand.Configs.load(null, Map.of()).toVmSpec("scale").withAccel("tcg");
        try (HvspiHost host = HvspiHost.builder().pluginsDir(HvctlRunner.home().resolve("plugins"))
                .runtimeRoot(runtime).commandTimeout(Duration.ofSeconds(10)).build()) {
            // the progress line before hotplug fails the run with three VMs up
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> ScaleBench.run(
                    host, spec, new ScaleBench.Options(3, 2, 2, 128, 1), line -> {
                        if (line.startsWith("attaching")) {
                            throw new IllegalStateException("injected failure");
                        }
                    }));
            assertEquals("injected failure", e.getMessage());
        }
        assertNothingLeft(runtime);
    }

    @Test
    void terminatingHvctlMidRunStopsEveryVm() throws Exception {
        Path runtime = tmp.resolve("run");
        HvctlRunner.Result r = HvctlRunner.terminatedAt("started 1/4 VMs", List.of("bench", "scale", "--vms", "4",
                "--disks", "64", "--warmup", "1", "--accel", "tcg", "--out", tmp.resolve("out").toString(),
                "--runtime-dir", runtime.toString()));
        assertEquals(143, r.exit(), r::toString);
        assertTrue(r.err().contains("interrupted: stopping"), r::toString);
        assertNothingLeft(runtime);
    }

    /** No VM directory (so no socket or state file) under the runtime root, and no QEMU serving one. */
    private static void assertNothingLeft(Path runtime) {
        RunLeftovers.assertNone(runtime, "bench scale");
    }
}
