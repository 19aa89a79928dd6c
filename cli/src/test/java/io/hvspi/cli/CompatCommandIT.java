package io.hvspi.cli;

import static io.hvspi.cli.HvctlRunner.hvctl;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hvspi.tck.plugin.PluginJar;
import io.hvspi.sim.VmmSimulators;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code hvctl plugins} and {@code hvctl compat} with a third-party plugin
 * dropped into a plugins directory: memvm, the worked example, packaged from its
 * sources as a plugin's own build would.
 */
class CompatCommandIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path MEMVM = Path.of(System.getProperty("hvspi.projectRoot"), "examples", "memvm-plugin");
    private static final Path MEMVM_SOURCES = MEMVM.resolve("src/main/java/io/hvspi/example/memvm");
    private static final Path MEMVM_FLAVOURS = MEMVM.resolve("src/test/java/io/hvspi/example/memvm");
    private static final String HONEST = "MemVmHypervisorFactory.java";

    @TempDir
    Path tmp;

    /** memvm's shared classes plus one flavour's factory, as plugin {@code pluginId}. */
    private Path install(String pluginId, String factorySource, Path plugins) {
        return PluginJar.builder(pluginId, "1.0.0")
                .sources(MEMVM_SOURCES, p -> factorySource.equals(HONEST) || !p.getFileName().toString().equals(HONEST))
                .sources(MEMVM_FLAVOURS, p -> p.getFileName().toString().equals(factorySource))
                .build(plugins.resolve(pluginId + ".jar"), tmp.resolve("build"));
    }

    private static JsonNode read(Path file) throws IOException {
        return JSON.readTree(Files.readString(file));
    }

    private static List<String> types(JsonNode plugins) {
        List<String> types = new ArrayList<>();
        plugins.forEach(p -> types.add(p.get("type").asText()));
        return types;
    }

    @Test
    void pluginsListsAThirdPartyPluginDroppedIntoTheDirectory() throws IOException {
        Path plugins = tmp.resolve("plugins");
        Path jar = install("memvm", "MemVmHypervisorFactory.java", plugins);
        HvctlRunner.Result r = hvctl("plugins", "--plugins-dir", plugins.toString(), "--json");
        assertEquals(0, r.exit(), r::toString);
        JsonNode p = JSON.readTree(r.out()).get("plugins").get(0);
        assertEquals("memvm", p.get("type").asText());
        assertEquals("memvm", p.get("id").asText());
        assertEquals(jar.toString(), p.get("file").asText());
    }

    @Test
    void compatRunsTheKitAgainstItAndWritesTheMatrix() throws IOException {
        Path plugins = tmp.resolve("plugins");
        install("memvm", "MemVmHypervisorFactory.java", plugins);
        Path out = tmp.resolve("report");
        HvctlRunner.Result r = hvctl("compat", "--plugins-dir", plugins.toString(), "--out", out.toString());
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().startsWith("TYPE"), r.out());
        assertTrue(r.out().contains("memvm 1.0.0  tested"), r.out());
        assertTrue(r.err().contains("memvm: running the kit on plugin defaults"), r.err());
        JsonNode doc = read(out.resolve("compat.json"));
        assertEquals(0, doc.get("exitCode").asInt());
        assertEquals("tested", doc.get("plugins").get(0).get("status").asText());
        assertEquals(0, doc.get("plugins").get(0).get("counts").get("failed").asInt());
        assertTrue(Files.readString(out.resolve("compat.html")).contains("<th>memvm</th>"));
        assertTrue(Files.readString(out.resolve("compat.md")).contains("| memvm | memvm | 1.0.0 | tested |"));
    }

    @Test
    void aWrongDeclarationMakesCompatExitSevenUnlessLeftOut() throws IOException {
        Path plugins = tmp.resolve("plugins");
        install("memvm", "MemVmHypervisorFactory.java", plugins);
        install("memvm-liar", "MemVmLiarFactory.java", plugins);
        Path out = tmp.resolve("report");
        HvctlRunner.Result all = hvctl("compat", "--plugins-dir", plugins.toString(), "--out", out.toString(), "--quiet");
        assertEquals(ExitCode.COMPAT_FAILED, all.exit(), all::toString);
        assertEquals("", all.err(), "--quiet prints no progress");
        JsonNode liar = read(out.resolve("compat.json")).get("capabilities");
        liar.forEach(c -> {
            if (c.get("key").asText().equals("iothread-move")) {
                assertEquals("failed", c.get("plugins").get("memvm-liar").asText());
                assertEquals("passed", c.get("plugins").get("memvm").asText());
            }
        });

        HvctlRunner.Result one = hvctl("compat", "--plugins-dir", plugins.toString(), "--out", out.toString(),
                "--only", "memvm", "--quiet");
        assertEquals(0, one.exit(), one::toString);
        assertEquals(List.of("memvm"), types(read(out.resolve("compat.json")).get("plugins")));
    }

    @Test
    void aReportThatCannotBeWrittenIsOneErrorLineAfterTheResults() throws IOException {
        Path plugins = tmp.resolve("plugins");
        install("memvm", "MemVmHypervisorFactory.java", plugins);
        Path out = Files.createDirectories(tmp.resolve("report").resolve("compat.json")).getParent();
        HvctlRunner.Result r = hvctl("compat", "--plugins-dir", plugins.toString(), "--out", out.toString(), "--quiet");
        assertEquals(ExitCode.FAILED, r.exit(), r::toString);
        assertTrue(r.out().startsWith("TYPE") && r.out().contains("memvm 1.0.0  tested"), "results kept: " + r);
        assertEquals(List.of("hvctl: error: cannot write the report into " + out + ": " + out.resolve("compat.json")
                + ": Is a directory"), r.err().lines().toList(), r::toString);
    }

    @Test
    void anUnknownTypeIsAPluginErrorListingWhatIsInstalled() {
        Path plugins = tmp.resolve("plugins");
        install("memvm", "MemVmHypervisorFactory.java", plugins);
        HvctlRunner.Result r = hvctl("compat", "--plugins-dir", plugins.toString(), "--out", tmp.resolve("o").toString(),
                "--only", "firecracker");
        assertEquals(ExitCode.PLUGIN, r.exit(), r::toString);
        assertTrue(r.err().contains("no plugin installed for hypervisor 'firecracker' (installed: memvm)"), r.err());
    }

    @Test
    void compatOnTheBundledPluginsReportsEachOneHonestly() throws IOException {
        Path out = tmp.resolve("report");
        HvctlRunner.Result r = hvctl("compat", "--out", out.toString(), "--quiet");
        assertTrue(r.exit() == ExitCode.OK || r.exit() == ExitCode.COMPAT_FAILED, r::toString);
        JsonNode plugins = read(out.resolve("compat.json")).get("plugins");
        assertEquals(List.of("clh", "dragonball", "qemu"), types(plugins));
        for (JsonNode p : plugins) {
            String type = p.get("type").asText();
            String expected = switch (type) {
                case "qemu" -> Files.isExecutable(Path.of("/usr/bin/qemu-system-x86_64")) ? "tested" : "unavailable";
                default -> VmmSimulators.types().contains(type) ? "tested" : "unavailable";
            };
            assertEquals(expected, p.get("status").asText(), p::toString);
        }
        // a bundled plugin declares only what the kit exercises (BundledDeclarationsTest has the rule)
        for (JsonNode c : read(out.resolve("compat.json")).get("capabilities")) {
            c.get("plugins").fields().forEachRemaining(v -> assertTrue(!v.getValue().asText().equals("declared-not-exercised"),
                    () -> v.getKey() + " declares " + c.get("key").asText() + ", which the kit does not exercise"));
        }
        JsonNode network = find(read(out.resolve("compat.json")).get("capabilities"), "network-device-hotplug");
        for (String simulated : List.of("clh", "dragonball")) {
            if (VmmSimulators.types().contains(simulated)) {
                assertEquals("passed", network.get("plugins").get(simulated).asText(), network::toString);
            }
        }
    }

    /**
     * A plugin whose stop throws StackOverflowError and one whose stop never returns, their VMMs
     * real processes: the run ends within its bounds, the first plugin's tests fail with the
     * plugin's error, the second is an error at its deadline, and no VMM of either is left.
     */
    @Test
    void aPluginWhoseStopThrowsOrHangsFailsItselfAndLeavesNoVmm() throws Exception {
        Path plugins = tmp.resolve("plugins");
        // a plugin id of this run only: its VMMs' command lines name <work>/<id>/run/...
        String id = "hanging" + ProcessHandle.current().pid();
        Path root = Path.of(System.getProperty("hvspi.projectRoot"));
        // the tck's own FaultFactory, which the plugin's two factories subclass
        PluginJar.builder(id, "1.0.0").sources(root.resolve("cli/src/test/plugin-sources/hanging"), p -> true)
                .sources(root.resolve("tck/src/test/java/io/hvspi/tck/fault"),
                        p -> p.getFileName().toString().equals("FaultFactory.java"))
                .build(plugins.resolve(id + ".jar"), tmp.resolve("build"));
        Path out = tmp.resolve("report");
        long start = System.nanoTime();
        // The kit waits for a hung stop (600 s) far longer than the plugin's deadline (60 s): stophang's first
        // stop, in its first tests, is sure to hold it past the deadline, and stopsoe, whose stops throw at
        // once, has a deadline it never comes near even on a loaded machine.
        HvctlRunner.Result r = HvctlRunner.process(java.time.Duration.ofSeconds(300),
                java.util.Map.of("HVCTL_JAVA_OPTS", "-Dhvspi.tck.stopTimeout=600"),
                "compat", "--plugins-dir", plugins.toString(), "--out", out.toString(), "--plugin-timeout", "60");
        double took = (System.nanoTime() - start) / 1e9;
        assertEquals(ExitCode.COMPAT_FAILED, r.exit(), r::toString);
        assertTrue(!r.err().contains("Exception in thread"), r::toString);
        JsonNode runs = read(out.resolve("compat.json")).get("plugins");
        assertEquals(List.of("stophang", "stopsoe"), types(runs).stream().sorted().toList());
        for (JsonNode p : runs) {
            if (p.get("type").asText().equals("stophang")) {
                assertEquals("error", p.get("status").asText(), p::toString);
                assertTrue(p.get("reason").asText().startsWith("plugin '" + id + "' did not finish the kit within 60 s"),
                        p::toString);
            } else {
                assertEquals("tested", p.get("status").asText(), p::toString);
                assertTrue(p.get("counts").get("failed").asInt() > 0, p::toString);
            }
        }
        assertTrue(Files.readString(out.resolve("compat.json")).contains("failed: StackOverflowError"),
                "the stop's error is the plugin's test failure");
        // no tail of the plugin survives hvctl (under <work>/<id>/run/ or <id>-2/run/, one per type); polled, as
        // a signalled process takes a moment to go
        java.util.regex.Pattern marker = java.util.regex.Pattern.compile("/" + id + "(-\\d+)?/run/");
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
        List<String> left;
        do {
            left = ProcessHandle.allProcesses().filter(p -> p.info().arguments()
                            .map(a -> java.util.Arrays.stream(a).anyMatch(x -> marker.matcher(x).find())).orElse(false))
                    .map(p -> p.pid() + " " + p.info().commandLine().orElse("?")).toList();
        } while (!left.isEmpty() && System.nanoTime() < deadline && pause());
        assertEquals(List.of(), left, () -> "VMMs left running after hvctl compat (took " + took + " s)\n" + r);
    }

    private static boolean pause() {
        java.util.concurrent.locks.LockSupport.parkNanos(50_000_000);
        return true;
    }

    private static JsonNode find(JsonNode array, String key) {
        for (JsonNode n : array) {
            if (n.get("key").asText().equals(key)) {
                return n;
            }
        }
        throw new AssertionError("no capability '" + key + "' in " + array);
    }

    /** SIGTERM mid-run: the kit's VMs run without the host's exit hook, yet none of them is left, nor its directory. */
    @Test
    void terminatingCompatWhileTheKitRunsQemuLeavesNoQemu() throws Exception {
        Path scratch = Files.createDirectories(tmp.resolve("scratch"));
        ProcessBuilder pb = new ProcessBuilder(HvctlRunner.home().resolve("bin/hvctl").toString(), "compat",
                "--only", "qemu", "--out", tmp.resolve("out").toString())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD);
        pb.environment().put("HVSPI_JAVA_HOME", System.getProperty("java.home"));
        pb.environment().put("HVCTL_JAVA_OPTS", "-Djava.io.tmpdir=" + scratch); // the kit's work directory
        Process p = pb.start();
        try {
            assertTrue(poll(() -> !qemusUnder(scratch).isEmpty(), 120), "the kit never started a QEMU");
            p.toHandle().destroy(); // SIGTERM
            assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "hvctl did not exit");
        } finally {
            p.destroyForcibly();
        }
        assertTrue(poll(() -> qemusUnder(scratch).isEmpty(), 20), () -> "QEMU left: " + qemusUnder(scratch));
        try (var left = Files.list(scratch)) {
            assertEquals(List.of(), left.toList(), "the kit's work directory is removed");
        }
    }

    private static List<Long> qemusUnder(Path dir) {
        return ProcessHandle.allProcesses().filter(h -> h.info().commandLine()
                .map(c -> c.contains("qemu-system") && c.contains(dir.toString())).orElse(false))
                .map(ProcessHandle::pid).toList();
    }

    private static boolean poll(java.util.function.BooleanSupplier condition, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(seconds);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(50);
        }
        return true;
    }
}
