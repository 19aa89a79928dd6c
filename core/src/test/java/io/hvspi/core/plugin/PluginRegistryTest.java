package io.hvspi.core.plugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.PluginException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PluginRegistryTest {
    private static final String OK = ">=1.0.0 & <2.0.0";

    @TempDir
    Path dir;

    private Path good(String id, String type) {
        return new PluginJarBuilder().descriptor(id, "1.2.3", OK)
                .factory("com.example." + id.replace('-', '_'), "Factory", type, "")
                .build(dir.resolve(id + ".jar"));
    }

    private PluginRegistry.Skipped onlySkipped(PluginRegistry registry) {
        assertEquals(1, registry.skipped().size(), () -> "skipped: " + registry.skipped());
        return registry.skipped().get(0);
    }

    @Test
    void loadsAPackagedThirdPartyJarAndFindsItsFactory() {
        Path jar = good("acme", "acme");
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            PluginRegistry.Entry entry = registry.entry("acme").orElseThrow();
            assertEquals("acme", entry.pluginId());
            assertEquals("1.2.3", entry.version());
            assertEquals(jar, entry.file());
            assertEquals("acme", registry.factory("acme").type());
            assertTrue(registry.skipped().isEmpty());
        }
    }

    @Test
    void unknownHypervisorNamesTheInstalledOnes() {
        good("b-plugin", "qemu");
        good("a-plugin", "clh");
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            PluginException e = assertThrows(PluginException.class, () -> registry.factory("firecracker"));
            assertEquals("no plugin installed for hypervisor 'firecracker' (installed: clh, qemu)", e.getMessage());
        }
    }

    @Test
    void corruptJarIsSkippedWithItsFileAndTheOthersLoad() throws IOException {
        good("acme", "acme");
        Path corrupt = Files.write(dir.resolve("broken.jar"), "this is not a zip".getBytes());
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of("acme"), registry.types());
            PluginRegistry.Skipped s = onlySkipped(registry);
            assertEquals(corrupt, s.file());
            assertTrue(s.reason().startsWith("not a valid jar"), s.reason());
        }
    }

    @Test
    void jarWithoutDescriptorIsSkipped() {
        good("acme", "acme");
        new PluginJarBuilder().factory("com.example.nodesc", "Factory", "nodesc", "").build(dir.resolve("nodesc.jar"));
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of("acme"), registry.types());
            assertTrue(onlySkipped(registry).reason().startsWith("no plugin descriptor"));
        }
    }

    @Test
    void pluginBuiltForAnotherSpiMajorIsSkippedNamingBothVersions() {
        good("acme", "acme");
        new PluginJarBuilder().descriptor("future", "9.0.0", ">=2.0.0")
                .factory("com.example.future", "Factory", "future", "").build(dir.resolve("future.jar"));
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of("acme"), registry.types());
            assertEquals("requires SPI >=2.0.0, but this host has SPI 1.0.0", onlySkipped(registry).reason());
        }
    }

    @Test
    void pluginBundlingItsOwnSpiIsSkipped() {
        good("acme", "acme");
        new PluginJarBuilder().descriptor("bundler", "1.0.0", OK)
                .factory("com.example.bundler", "Factory", "bundler", "")
                .entry("io/hvspi/spi/HypervisorFactory.class", new byte[] {(byte) 0xCA, (byte) 0xFE})
                .build(dir.resolve("bundler.jar"));
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of("acme"), registry.types());
            assertTrue(onlySkipped(registry).reason().startsWith("bundles its own copy of the hvspi SPI"));
        }
    }

    @Test
    void factoryThrowingInItsConstructorIsSkippedWithTheCause() {
        good("acme", "acme");
        new PluginJarBuilder().descriptor("thrower", "1.0.0", OK)
                .factory("com.example.thrower", "Factory", "thrower", "throw new IllegalStateException(\"no licence\");")
                .build(dir.resolve("thrower.jar"));
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of("acme"), registry.types());
            assertEquals("com.example.thrower.Factory failed in its constructor: IllegalStateException: no licence",
                    onlySkipped(registry).reason());
        }
    }

    @Test
    void secondPluginForATakenTypeIsSkippedNamingTheFirst() {
        good("a-qemu", "qemu");
        Path second = good("b-qemu", "qemu");
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals("a-qemu", registry.entry("qemu").orElseThrow().pluginId());
            PluginRegistry.Skipped s = onlySkipped(registry);
            assertEquals(second, s.file());
            assertEquals("hypervisor type 'qemu' is already provided by plugin 'a-qemu' (a-qemu.jar)", s.reason());
        }
    }

    @Test
    void missingDirectoryIsAnError() {
        PluginException e = assertThrows(PluginException.class, () -> PluginRegistry.load(dir.resolve("nope")));
        assertTrue(e.getMessage().endsWith("nope does not exist"), e.getMessage());
    }
}
