package io.hvspi.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.ConfigException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code config.d} drop-ins, merged as both Kata runtimes merge them (Go
 * {@code katautils/config.go: decodeDropIns}, runtime-rs kata-types
 * {@code config/drop_in.rs}); hvspi ignored them, so an administrator's lockdown
 * in a drop-in did not apply.
 */
class DropInTest {
    static final String P = AnnotationPolicy.PREFIX;

    @TempDir
    Path dir;

    Path base() throws IOException {
        Path file = dir.resolve("configuration.toml");
        Files.copy(KataConfigFixturesTest.DIR.resolve("configuration-qemu.toml"), file);
        return file;
    }

    Path dropIn(String name, String text) throws IOException {
        Files.createDirectories(dir.resolve("config.d"));
        return Files.writeString(dir.resolve("config.d").resolve(name), text);
    }

    @Test
    void aDropInThatEmptiesEnableAnnotationsLocksAnnotationsDown() throws IOException {
        Path base = base();
        assertTrue(KataConfigLoader.load(base).withAnnotations(Map.of(P + "kernel_params", "quiet"))
                .hypervisor().kernelParams().endsWith("quiet"));
        Path lock = dropIn("50-lockdown.toml", "[hypervisor.qemu]\nenable_annotations = []\n");
        KataConfig c = KataConfigLoader.load(base);
        assertEquals(List.of(), c.hypervisor().enableAnnotations());
        ConfigException e = assertThrows(ConfigException.class,
                () -> c.withAnnotations(Map.of(P + "kernel_params", "quiet")));
        assertEquals(P + "kernel_params: annotation not enabled: enable_annotations in " + lock
                + " is empty or absent, so no hypervisor annotation is accepted", e.getMessage());
    }

    @Test
    void laterDropInsOverrideEarlierOnesAndTheBaseKeyByKey() throws IOException {
        Path base = base();
        dropIn("20-b.toml", "[hypervisor.qemu]\ndefault_memory = 4096\nkernel_params = \"b\"\n");
        dropIn("10-a.toml", "[hypervisor.qemu]\ndefault_memory = 1024\ndefault_vcpus = 3\n");
        KataConfig c = KataConfigLoader.load(base);
        assertEquals(4096, c.hypervisor().defaultMemoryMib()); // 20-b after 10-a
        assertEquals("b", c.hypervisor().kernelParams());
        assertEquals(3, c.hypervisor().vcpus(64)); // from 10-a, not overridden
        assertEquals("/usr/bin/qemu-system-x86_64", c.hypervisor().path()); // from the base
    }

    /** Neither runtime filters names: a backup file counts, in name order. */
    @Test
    void everyEntryCountsWhateverItsName() throws IOException {
        Path base = base();
        dropIn("10.toml", "[hypervisor.qemu]\ndefault_memory = 1024\n");
        dropIn("10.toml~", "[hypervisor.qemu]\ndefault_memory = 3072\n");
        assertEquals(3072, KataConfigLoader.load(base).hypervisor().defaultMemoryMib());
    }

    @Test
    void noDirectoryOrAnEmptyOneChangesNothing() throws IOException {
        Path base = base();
        int memory = KataConfigLoader.load(base).hypervisor().defaultMemoryMib();
        Files.createDirectories(dir.resolve("config.d"));
        assertEquals(memory, KataConfigLoader.load(base).hypervisor().defaultMemoryMib());
    }

    @Test
    void aMalformedDropInIsAnErrorNamingIt() throws IOException {
        Path base = base();
        Path bad = dropIn("10-bad.toml", "[hypervisor.qemu]\ndefault_memory = = 1\n");
        ConfigException e = assertThrows(ConfigException.class, () -> KataConfigLoader.load(base));
        assertEquals(Optional.of(bad), e.file());
        assertEquals(2, e.line());
        assertTrue(e.problem().startsWith("malformed TOML"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
    }

    @Test
    void aBadValueFromADropInIsLocatedInTheDropIn() throws IOException {
        Path base = base();
        Path bad = dropIn("10.toml", "# admin\n[hypervisor.qemu]\nindep_iothreads = -1\n");
        ConfigException e = assertThrows(ConfigException.class, () -> KataConfigLoader.load(base));
        assertEquals(bad + ":3:19: hypervisor.qemu.indep_iothreads: expected an integer from 0 to 1024, got -1",
                e.getMessage());
    }

    @Test
    void aDirectoryInConfigDIsAnError() throws IOException {
        Path base = base();
        Files.createDirectories(dir.resolve("config.d").resolve("sub"));
        ConfigException e = assertThrows(ConfigException.class, () -> KataConfigLoader.load(base));
        assertEquals(Optional.of(dir.resolve("config.d").resolve("sub")), e.file());
    }

    /** Both runtimes resolve the configuration's symbolic links first: config.d is beside the real file. */
    @Test
    void configDIsBesideTheRealFile() throws IOException {
        Path real = base();
        dropIn("10.toml", "[hypervisor.qemu]\ndefault_memory = 1024\n");
        Path etc = Files.createDirectories(dir.resolve("etc"));
        Path link = Files.createSymbolicLink(etc.resolve("configuration.toml"), real);
        assertEquals(1024, KataConfigLoader.load(link).hypervisor().defaultMemoryMib());
    }

    @Test
    void aDropInMayAddATableAndRuntimeRsRefusesASymbolicLink() throws IOException {
        Path base = dir.resolve("configuration.toml");
        Files.copy(KataConfigFixturesTest.DIR.resolve("configuration-qemu-runtime-rs.toml"), base);
        Path target = Files.writeString(dir.resolve("memory.toml"), "[hypervisor.qemu]\ndefault_memory = 1024\n");
        Files.createDirectories(dir.resolve("config.d"));
        Path link = Files.createSymbolicLink(dir.resolve("config.d").resolve("10.toml"), target);
        ConfigException e = assertThrows(ConfigException.class, () -> KataConfigLoader.load(base));
        assertEquals(Optional.of(link), e.file());
    }

    @Test
    void aNoteAboutADropInKeyNamesTheDropIn() throws IOException {
        Path base = base();
        Path extra = dropIn("10.toml", "[hypervisor.qemu]\nfoo = 1\n");
        ConfigNote note = KataConfigLoader.load(base).unknownKeys().get(0);
        assertEquals("hypervisor.qemu.foo", note.key());
        assertTrue(note.message().endsWith("(set in " + extra + ":2:7)"), note.message());
    }
}
