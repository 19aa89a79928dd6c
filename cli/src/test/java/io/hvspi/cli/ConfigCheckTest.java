package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code hvctl config check} in-process, with no plugins installed (an empty
 * plugins directory), against Kata's rendered files: the summary must tell the
 * same story as the warnings, --json the same as the exit code.
 */
class ConfigCheckTest {
    static final Path FIXTURES = Path.of(System.getProperty("hvspi.fixtures", "../../shared/fixtures"), "kata-config");
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    record Result(int exit, String out, String err) {}

    Result check(String... args) throws IOException {
        List<String> all = new ArrayList<>(List.of("config", "check"));
        all.addAll(List.of(args));
        all.addAll(List.of("--plugins-dir", Files.createDirectories(tmp.resolve("plugins")).toString()));
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Hvctl.execute(new PrintWriter(out, true), new PrintWriter(err, true), all.toArray(String[]::new));
        return new Result(exit, out.toString(), err.toString());
    }

    Path file(String name, String text) throws IOException {
        return Files.writeString(tmp.resolve(name), text);
    }

    /** Every Kata file rendered from Kata's own templates loads under --strict (issue 12's acceptance). */
    @ParameterizedTest
    @CsvSource({"configuration-qemu.toml", "configuration-qemu-runtime-rs.toml", "configuration-clh.toml",
            "configuration-clh-runtime-rs.toml", "configuration-dragonball.toml", "configuration-fc.toml",
            "configuration-remote.toml", "configuration-qemu-coco-dev.toml", "configuration-qemu-snp.toml",
            "configuration-qemu-tdx.toml", "configuration-qemu-se.toml", "configuration-qemu-nvidia-cpu.toml",
            "configuration-qemu-nvidia-gpu.toml", "configuration-qemu-nvidia-gpu-snp.toml",
            "configuration-qemu-nvidia-gpu-tdx.toml", "configuration-clh-azure.toml", "configuration-stratovirt.toml"})
    void everyRenderedKataFileLoadsUnderStrict(String name) throws IOException {
        Result r = check(FIXTURES.resolve(name).toString(), "--strict", "--json");
        assertEquals(ExitCode.OK, r.exit(), r::toString);
        JsonNode doc = JSON.readTree(r.out());
        assertTrue(doc.get("valid").asBoolean());
        assertEquals(0, doc.get("unknownKeys").size(), r.out());
    }

    @Test
    void strictJsonSaysInvalidWhenItFails() throws IOException {
        Path typo = file("typo.toml", "[hypervisor.qemu]\nindep_iothread = 4\n");
        Result r = check(typo.toString(), "--strict", "--json");
        assertEquals(ExitCode.CONFIG, r.exit(), r::toString);
        assertFalse(JSON.readTree(r.out()).get("valid").asBoolean(), r.out());
        Result text = check(typo.toString(), "--strict");
        assertTrue(text.out().startsWith(typo + ": invalid under --strict (1 unknown key)"), text.out());
        Result lenient = check(typo.toString(), "--json");
        assertEquals(ExitCode.OK, lenient.exit());
        assertTrue(JSON.readTree(lenient.out()).get("valid").asBoolean());
    }

    /** Cloud Hypervisor and Firecracker have no pool: the summary and JSON say so, as the warnings do. */
    @ParameterizedTest
    @CsvSource({"clh", "firecracker", "dragonball"})
    void aVmmWithoutAPoolIsNeverShownWithOne(String type) throws IOException {
        String enable = "dragonball".equals(type) ? "" : "enable_iothreads = true\n";
        Path f = file(type + ".toml", "[hypervisor." + type + "]\n" + enable + "indep_iothreads = 4\n");
        JsonNode io = JSON.readTree(check(f.toString(), "--json").out()).get("iothreads");
        assertFalse(io.get("pool").asBoolean());
        assertEquals(0, io.get("poolSize").asInt());
        assertEquals(0, io.get("ids").size());
        String text = check(f.toString()).out();
        assertTrue(text.contains("IOThreads:    no independent pool: " + type + " has none"), text);
        assertFalse(text.contains("pool of"), text);
    }

    @Test
    void qemuStillShowsItsPool() throws IOException {
        Path f = file("q.toml", "[hypervisor.qemu]\nenable_iothreads = true\nindep_iothreads = 4\n"
                + "block_device_driver = \"virtio-blk-pci\"\n");
        JsonNode io = JSON.readTree(check(f.toString(), "--json").out()).get("iothreads");
        assertTrue(io.get("pool").asBoolean());
        assertEquals(4, io.get("poolSize").asInt());
    }

    /** Kata's own file names /usr/share/kata-containers/vmlinux.container: valid, but run would not start here. */
    @Test
    void aValidFileWhoseGuestIsMissingSaysRunWouldNotStart() throws IOException {
        Path kata = FIXTURES.resolve("configuration-qemu.toml");
        Result r = check(kata.toString());
        assertEquals(ExitCode.OK, r.exit(), r::toString);
        assertTrue(r.out().startsWith(kata + ": valid"), r.out());
        if (!Files.exists(Path.of("/usr/share/kata-containers/vmlinux.container"))) {
            assertTrue(r.out().contains("run:          would not start on this host: kernel:"
                    + " /usr/share/kata-containers/vmlinux.container does not exist"), r.out());
            JsonNode run = JSON.readTree(check(kata.toString(), "--json").out()).get("run");
            assertFalse(run.get("ready").asBoolean());
            assertTrue(run.get("problems").toString().contains("kernel: /usr/share/kata-containers/vmlinux.container"));
        }
    }

    @Test
    void aFileWhosePathsExistWouldStart() throws IOException {
        Path kernel = file("vmlinuz", "k");
        Path f = file("ok.toml", "[hypervisor.qemu]\npath = \"/bin/sh\"\nkernel = \"" + kernel + "\"\n");
        JsonNode run = JSON.readTree(check(f.toString(), "--json").out()).get("run");
        assertTrue(run.get("ready").asBoolean(), run.toString());
    }

    /** Each pattern with what it enables: "kernel" also enables kernel_params (Kata matches unanchored). */
    @Test
    void eachPatternIsListedWithTheAnnotationsItEnables() throws IOException {
        Path f = file("p.toml", "[hypervisor.qemu]\nenable_annotations = [\"kernel\", \"(?=x)\"]\n");
        Result r = check(f.toString());
        assertTrue(r.out().contains("  \"kernel\" enables kernel, kernel_hash, kernel_params, kernel_verity_params"),
                r.out());
        assertTrue(r.out().contains("  \"(?=x)\" enables nothing (not a valid RE2 regular expression: "), r.out());
        JsonNode p = JSON.readTree(check(f.toString(), "--json").out()).get("enableAnnotations");
        assertEquals("kernel_params", p.get(0).get("enables").get(2).asText());
        assertTrue(p.get(1).has("problem"));
    }

    @Test
    void annotationsHvspiDoesNotActOnAreListed() throws IOException {
        Path f = file("g.toml", "[hypervisor.qemu]\nenable_annotations = [\"gpu\"]\n");
        Result r = check(f.toString(), "--annotation", "io.katacontainers.config.hypervisor.default_gpus=2");
        assertEquals(ExitCode.OK, r.exit(), r::toString);
        assertTrue(r.out().contains("hvspi does not act on them:\n  io.katacontainers.config.hypervisor.default_gpus"),
                r.out());
    }
}
