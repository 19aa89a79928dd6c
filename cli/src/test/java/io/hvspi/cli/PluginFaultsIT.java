package io.hvspi.cli;

import static io.hvspi.cli.HvctlRunner.hvctl;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hvspi.tck.plugin.PluginJar;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A third party's bugs are reported as the plugin's (exit 4, one line naming the
 * plugin, its jar and the method; the trace only with --debug), and two jars
 * claiming one type are refused naming both.
 */
class PluginFaultsIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path SOURCES = Path.of(System.getProperty("hvspi.projectRoot"),
            "cli", "src", "test", "plugin-sources", "faulty");

    @TempDir
    static Path tmp;

    static Path plugins;
    static Path jar;

    @BeforeAll
    static void installTheFaultyPlugin() {
        plugins = tmp.resolve("plugins");
        jar = PluginJar.builder("faulty", "1.0.0").sources(SOURCES, p -> true)
                .build(plugins.resolve("faulty-1.0.0.jar"), tmp.resolve("build"));
    }

    private static Path config(String type) throws IOException {
        return Files.writeString(tmp.resolve(type + ".toml"), "[hypervisor." + type + "]\npath = \"/bin/true\"\n");
    }

    private static HvctlRunner.Result run(String type, String... more) throws IOException {
        String[] args = {"run", config(type).toString(), "--plugins-dir", plugins.toString(),
                "--runtime-dir", tmp.resolve("run").toString(), "--disks", "1"};
        String[] all = Arrays.copyOf(args, args.length + more.length);
        System.arraycopy(more, 0, all, args.length, more.length);
        return hvctl(all);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "npe    | HypervisorFactory.create | NullPointerException",
            "boom   | Hypervisor.start         | IllegalStateException: boom",
            "attach | DeviceHotplug.attach     | ArrayIndexOutOfBoundsException: Index 7 out of bounds for length 0"})
    void aPluginsBugIsExitFourWithOneLineNamingThePluginAndTheMethod(String type, String method, String cause)
            throws IOException {
        HvctlRunner.Result r = run(type);
        assertEquals(ExitCode.PLUGIN, r.exit(), r::toString);
        String error = r.err().lines().filter(l -> l.startsWith("hvctl: error: ")).findFirst().orElseThrow();
        assertTrue(error.startsWith("hvctl: error: plugin 'faulty' (" + jar + ") failed in " + method + ": " + cause),
                r::toString);
        assertFalse(r.err().contains("\tat "), () -> "no stack trace without --debug: " + r);
        assertTrue(r.err().contains("hvctl: hint: a bug in the plugin, not in hvspi"), r::toString);
    }

    @Test
    void debugShowsThePluginsStackTrace() throws IOException {
        HvctlRunner.Result r = run("boom", "--debug");
        assertEquals(ExitCode.PLUGIN, r.exit(), r::toString);
        assertTrue(r.err().contains("io.hvspi.core.plugin.PluginFaultException: plugin 'faulty'"), r::toString);
        assertTrue(r.err().contains("Caused by: java.lang.IllegalStateException: boom"), r::toString);
        assertTrue(r.err().contains("at com.example.faulty.FaultyVm.start("), r::toString);
    }

    /** stderr of the installed launcher, in its own JVM: logging is set up once per process. */
    private static String launcherStderr(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(
                HvctlRunner.home().resolve("bin/hvctl").toString()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), err);
        return err;
    }

    @Test
    void pf4jsInfoLinesShowOnlyWithDebug() throws Exception {
        String quiet = launcherStderr("plugins", "--plugins-dir", plugins.toString());
        assertFalse(quiet.contains("INFO"), quiet);
        String loud = launcherStderr("--debug", "plugins", "--plugins-dir", plugins.toString());
        assertTrue(loud.lines().anyMatch(l -> l.contains(" INFO ") && l.endsWith("Plugin 'faulty@1.0.0' resolved")), loud);
    }

    @Test
    void twoJarsClaimingOneTypeAreAConflictThatPluginsRunAndCompatReport() throws IOException {
        Path twice = Files.createDirectories(tmp.resolve("twice"));
        Path first = Files.copy(jar, twice.resolve("faulty-1.0.0.jar"));
        Path second = PluginJar.builder("faulty-fork", "2.0.0").sources(SOURCES, p -> true)
                .build(twice.resolve("fork.jar"), tmp.resolve("build-fork"));
        String expected = "hypervisor type 'attach' is claimed by 2 plugins: 'faulty' (" + first + ") and 'faulty-fork' ("
                + second + "); remove all but one";

        HvctlRunner.Result list = hvctl("plugins", "--plugins-dir", twice.toString());
        assertEquals(ExitCode.PLUGIN, list.exit(), list::toString);
        assertTrue(list.out().contains("faulty-fork  2.0.0    attach (conflict)"), list::toString);
        assertTrue(list.err().contains("hvctl: error: " + expected), list::toString);

        HvctlRunner.Result json = hvctl("plugins", "--plugins-dir", twice.toString(), "--json");
        assertEquals(ExitCode.PLUGIN, json.exit(), json::toString);
        JsonNode conflicts = JSON.readTree(json.out()).get("conflicts");
        assertEquals(3, conflicts.size(), "all three types are claimed twice");
        assertEquals(2, conflicts.get(0).get("plugins").size());

        HvctlRunner.Result runIt = hvctl("run", config("attach").toString(), "--plugins-dir", twice.toString(),
                "--runtime-dir", tmp.resolve("run").toString());
        assertEquals(ExitCode.PLUGIN, runIt.exit(), runIt::toString);
        assertTrue(runIt.err().startsWith("hvctl: error: " + expected + "\n")
                || runIt.err().contains("\nhvctl: error: " + expected + "\n"), runIt::toString);

        HvctlRunner.Result compat = hvctl("compat", "--plugins-dir", twice.toString(), "--out",
                tmp.resolve("report").toString(), "--json", "--quiet");
        assertEquals(ExitCode.PLUGIN, compat.exit(), compat::toString);
        JsonNode report = JSON.readTree(compat.out());
        assertEquals(0, report.get("plugins").size(), "no claimant is tested");
        assertEquals(expected, report.get("conflicts").get(0).get("message").asText());
        assertEquals(report, JSON.readTree(Files.readString(tmp.resolve("report").resolve("compat.json"))),
                "--json prints what compat.json holds");
    }

    @Test
    void compatListsTheJarsThatDidNotLoad() throws IOException {
        Path mixed = Files.createDirectories(tmp.resolve("mixed"));
        Files.writeString(mixed.resolve("broken.jar"), "not a jar");
        Path old = PluginJar.builder("old", "0.9.0").manifest("Plugin-Requires", "*").sources(SOURCES, p -> true)
                .build(mixed.resolve("old.jar"), tmp.resolve("build-old"));
        HvctlRunner.Result r = hvctl("compat", "--plugins-dir", mixed.toString(), "--out", tmp.resolve("r2").toString(),
                "--json", "--quiet");
        assertEquals(ExitCode.PLUGIN, r.exit(), () -> "nothing could be tested: " + r);
        assertTrue(r.err().contains("hvctl: error: no plugin in " + mixed + " could be tested"), r::toString);
        JsonNode notLoaded = JSON.readTree(r.out()).get("notLoaded");
        assertEquals(2, notLoaded.size(), notLoaded::toString);
        assertEquals(mixed.resolve("broken.jar").toString(), notLoaded.get(0).get("file").asText());
        assertTrue(notLoaded.get(0).get("reason").asText().startsWith("not a valid jar"), notLoaded::toString);
        assertEquals(old.toString(), notLoaded.get(1).get("file").asText());
        assertTrue(notLoaded.get(1).get("reason").asText().startsWith("Plugin-Requires is missing or '*'"),
                notLoaded::toString);
        String md = Files.readString(tmp.resolve("r2").resolve("compat.md"));
        assertTrue(md.contains("## Not loaded"), md);
    }
}
