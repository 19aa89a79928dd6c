package io.hvspi.cli;

import static io.hvspi.cli.HvctlRunner.fixture;
import static io.hvspi.cli.HvctlRunner.hvctl;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** hvctl's commands that need no VM, against the packaged plugins in the distribution. */
class HvctlIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    private static JsonNode json(HvctlRunner.Result r) throws IOException {
        assertEquals(0, r.exit(), r::toString);
        return JSON.readTree(r.out());
    }

    @Test
    void pluginsListsTheThreeBundledPluginJarsWithTheirCapabilities() throws IOException {
        JsonNode doc = json(hvctl("plugins", "--json"));
        List<String> types = new ArrayList<>();
        doc.get("plugins").forEach(p -> types.add(p.get("type").asText()));
        assertEquals(List.of("clh", "dragonball", "qemu"), types);
        JsonNode qemu = doc.get("plugins").get(2);
        assertTrue(qemu.get("file").asText().endsWith("plugins/hvspi-plugin-qemu-1.0.0.jar"), qemu.toString());
        assertTrue(qemu.get("capabilities").toString().contains("\"independent-iothreads\""));
        assertEquals(0, doc.get("skipped").size());
    }

    @Test
    void pluginsTableShowsEachPlugin() {
        HvctlRunner.Result r = hvctl("plugins");
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().startsWith("PLUGIN"), r.out());
        assertTrue(r.out().contains("dragonball-bridge"), r.out());
    }

    @Test
    void capabilitiesMatrixSaysOnlyQemuHasAnIOThreadPool() throws IOException {
        JsonNode caps = json(hvctl("capabilities", "--json")).get("capabilities");
        assertTrue(caps.get("independent-iothreads").get("qemu").asBoolean());
        assertFalse(caps.get("independent-iothreads").get("clh").asBoolean());
        assertFalse(caps.get("independent-iothreads").get("dragonball").asBoolean());
        assertTrue(caps.get("per-queue-io-threads").get("clh").asBoolean());
    }

    @Test
    void aCorruptJarInThePluginsDirIsReportedAndTheOthersStillList() throws IOException {
        Path plugins = Files.createDirectory(tmp.resolve("plugins"));
        Path qemuJar = HvctlRunner.home().resolve("plugins/hvspi-plugin-qemu-1.0.0.jar");
        Files.copy(qemuJar, plugins.resolve(qemuJar.getFileName()));
        Files.writeString(plugins.resolve("broken.jar"), "not a jar");
        JsonNode doc = json(hvctl("plugins", "--json", "--plugins-dir", plugins.toString()));
        assertEquals(1, doc.get("plugins").size());
        assertEquals(plugins.resolve("broken.jar").toString(), doc.get("skipped").get(0).get("file").asText());
    }

    @ParameterizedTest
    @CsvSource({
            "configuration-qemu.toml, qemu, true",
            "configuration-qemu-runtime-rs.toml, qemu, true",
            "configuration-clh.toml, clh, true",
            "configuration-clh-runtime-rs.toml, clh, true",
            "configuration-dragonball.toml, dragonball, true",
            "configuration-fc.toml, firecracker, false",
            "configuration-remote.toml, remote, false"})
    void configCheckAcceptsEveryKataFixture(String file, String hypervisor, boolean installed) throws IOException {
        JsonNode doc = json(hvctl("config", "check", fixture(file).toString(), "--json"));
        assertEquals(hypervisor, doc.get("hypervisor").asText());
        assertEquals(installed, doc.get("pluginInstalled").asBoolean());
        if (!installed) {
            assertEquals("no plugin installed for hypervisor '" + hypervisor + "' (installed: clh, dragonball, qemu)",
                    doc.get("pluginProblem").asText());
        }
    }

    @Test
    void configCheckOfTheBundledConfigShowsFourIndependentIOThreads() throws IOException {
        JsonNode io = json(hvctl("config", "check", "--json")).get("iothreads");
        assertEquals(4, io.get("poolSize").asInt());
        assertEquals("least-loaded", io.get("policy").asText());
        assertEquals("indep_iothread_3", io.get("ids").get(3).asText());
    }

    @Test
    void annotationWithinKataRangeResizesThePool() throws IOException {
        JsonNode io = json(hvctl("config", "check", "--json",
                "--annotation", "io.katacontainers.config.hypervisor.indep_iothreads=8")).get("iothreads");
        assertEquals(8, io.get("poolSize").asInt());
    }

    @Test
    void badValueGivesOneErrorLineWithPositionAndExitThree() throws IOException {
        Path bad = Files.writeString(tmp.resolve("bad.toml"),
                "[hypervisor.qemu]\npath = \"/usr/bin/qemu-system-x86_64\"\nindep_iothreads = -1\n");
        HvctlRunner.Result r = hvctl("config", "check", bad.toString());
        assertEquals(ExitCode.CONFIG, r.exit(), r::toString);
        assertEquals("hvctl: error: " + bad + ":3:19: hypervisor.qemu.indep_iothreads: expected an integer from 0 to 1024, got -1\n",
                r.err());
    }

    @Test
    void refusedAnnotationIsAnErrorNamingIt() {
        HvctlRunner.Result r = hvctl("config", "check",
                "--annotation", "io.katacontainers.config.hypervisor.indep_iothreads=51");
        assertEquals(ExitCode.CONFIG, r.exit(), r::toString);
        assertTrue(r.err().startsWith("hvctl: error: io.katacontainers.config.hypervisor.indep_iothreads:"), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
    }

    @Test
    void strictTurnsUnknownKeysIntoErrors() throws IOException {
        Path typo = Files.writeString(tmp.resolve("typo.toml"),
                "[hypervisor.qemu]\npath = \"/usr/bin/qemu-system-x86_64\"\nindep_iothread = 4\n");
        assertEquals(ExitCode.OK, hvctl("config", "check", typo.toString()).exit());
        HvctlRunner.Result strict = hvctl("config", "check", typo.toString(), "--strict");
        assertEquals(ExitCode.CONFIG, strict.exit(), strict::toString);
        assertTrue(strict.err().contains("indep_iothread: unknown key"), strict.err());
        assertTrue(strict.err().contains("did you mean indep_iothreads?"), strict.err());
    }

    @Test
    void badArgumentsExitTwoWithAHint() {
        HvctlRunner.Result r = hvctl("run", "--disks", "-1");
        assertEquals(ExitCode.USAGE, r.exit(), r::toString);
        List<String> lines = r.err().lines().toList();
        assertEquals(2, lines.size(), r::toString);
        assertTrue(lines.get(0).startsWith("hvctl: error: ") && lines.get(0).contains("--disks")
                && lines.get(0).contains("'-1'"), lines.get(0));
        assertEquals("hvctl: hint: see: hvctl run --help", lines.get(1));
    }

    @Test
    void runOfAHypervisorWithoutPluginExitsFour() {
        HvctlRunner.Result r = hvctl("run", fixture("configuration-fc.toml").toString(), "--runtime-dir", tmp.toString());
        assertEquals(ExitCode.PLUGIN, r.exit(), r::toString);
        assertTrue(r.err().contains("hvctl: error: no plugin installed for hypervisor 'firecracker' (installed: clh, dragonball, qemu)"),
                r.err());
    }

    @Test
    void helpDocumentsTheExitCodes() {
        HvctlRunner.Result r = hvctl("--help");
        assertEquals(0, r.exit());
        assertTrue(r.out().contains("Exit codes:") && r.out().contains("3   configuration error"), r.out());
    }

    @Test
    void installedLauncherFindsAJava21AndRuns() throws Exception {
        Process p = new ProcessBuilder(HvctlRunner.home().resolve("bin/hvctl").toString(), "--version")
                .redirectErrorStream(true).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), output);
        assertEquals("hvctl 1.0.0 (SPI 1.1.0)\n", output);
    }

    @Test
    void shortVersionOptionAnswersLikeTheLongOne() throws Exception {
        // both are answered in main before picocli starts; picocli's provider prints the same line
        assertEquals(launch("--version"), launch("-V"));
    }

    private static String launch(String arg) throws Exception {
        Process p = new ProcessBuilder(HvctlRunner.home().resolve("bin/hvctl").toString(), arg)
                .redirectErrorStream(true).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), output);
        return output;
    }
}
