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
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
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
        for (ProcessHandle h : ProcessHandle.allProcesses().filter(h -> cmdline(h.pid()).contains(tmp.toString()))
                .toList()) {
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
        ProcessBuilder pb = new ProcessBuilder(HvctlRunner.home().resolve("bin/hvctl").toString(), "bench", "scale",
                "--vms", "4", "--disks", "64", "--warmup", "1", "--accel", "tcg", "--out",
                tmp.resolve("out").toString(), "--runtime-dir", runtime.toString())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().put("HVSPI_JAVA_HOME", System.getProperty("java.home"));
        Process p = pb.start();
        StringBuilder err = new StringBuilder();
        try (BufferedReader lines = new BufferedReader(
                new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = lines.readLine()) != null) {
                err.append(line).append('\n');
                if (line.contains("started 1/4 VMs")) {
                    // SIGTERM, as a service manager stops it (Ctrl-C runs the same hook); Process.destroy()
                    // would also close the stream read here
                    p.toHandle().destroy();
                }
            }
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), err::toString);
        } finally {
            p.destroyForcibly();
        }
        assertEquals(143, p.exitValue(), err::toString);
        assertTrue(err.toString().contains("interrupted: stopping"), err::toString);
        assertNothingLeft(runtime);
    }

    /** No VM directory (so no socket or state file) under the runtime root, and no QEMU serving one. */
    private static void assertNothingLeft(Path runtime) {
        try (Stream<Path> left = Files.list(runtime)) {
            // hidden entries are the host's own (.locks: lock files outlive their VMs by design)
            assertEquals(List.of(), left.filter(f -> !f.getFileName().toString().startsWith(".")).toList(),
                    "every VM's runtime directory is gone");
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        List<Long> qemus = ProcessHandle.allProcesses()
                .filter(h -> cmdline(h.pid()).contains(runtime.toString()))
                .map(ProcessHandle::pid).toList();
        assertEquals(List.of(), qemus, "no QEMU of this run is alive");
    }

    private static String cmdline(long pid) {
        try {
            return Files.readString(Path.of("/proc", Long.toString(pid), "cmdline")).replace('\0', ' ');
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }
}
