package io.hvspi.core.plugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.PluginException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import io.hvspi.core.plugin.classpath.ClasspathFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.NullSource;
import org.junit.jupiter.params.provider.ValueSource;
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
            assertEquals("requires SPI >=2.0.0, but this host has SPI " + io.hvspi.spi.SpiVersion.CURRENT,
                    onlySkipped(registry).reason());
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
    void anExtensionIndexNamingAMissingClassIsSkippedNamingTheClass() {
        good("acme", "acme");
        new PluginJarBuilder().descriptor("ghost", "1.0.0", OK)
                .entry("META-INF/extensions.idx", "com.example.ghost.Factory\n".getBytes())
                .build(dir.resolve("ghost.jar"));
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of("acme"), registry.types());
            assertEquals("plugin 'ghost': META-INF/extensions.idx names com.example.ghost.Factory, which is not in"
                    + " the jar", onlySkipped(registry).reason());
        }
    }

    @Test
    void extensionsOfOtherExtensionPointsBesideTheFactoryAreIgnored() {
        new PluginJarBuilder().descriptor("acme", "1.0.0", OK)
                .factory("com.example.acme", "Factory", "acme", "")
                .source("com.example.acme", "Other", """
                        package com.example.acme;
                        @org.pf4j.Extension
                        public class Other implements org.pf4j.ExtensionPoint {}
                        """)
                .build(dir.resolve("acme.jar"));
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of("acme"), registry.types());
            assertEquals(1, registry.entries().size());
            assertTrue(registry.skipped().isEmpty(), () -> "skipped: " + registry.skipped());
        }
    }

    @Test
    void aTypeClaimedByTwoJarsIsAConflictNamingBothAndIsRefused() {
        good("a-qemu", "qemu");
        good("b-qemu", "qemu");
        good("acme", "acme");
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of("acme"), registry.types(), "neither claimant is used");
            assertEquals(List.of(), registry.skipped());
            PluginRegistry.Conflict conflict = registry.conflicts().get(0);
            assertEquals(List.of("a-qemu", "b-qemu"), conflict.claimants().stream().map(PluginRegistry.Entry::pluginId).toList());
            String expected = "hypervisor type 'qemu' is claimed by 2 plugins: 'a-qemu' (" + dir.resolve("a-qemu.jar")
                    + ") and 'b-qemu' (" + dir.resolve("b-qemu.jar") + "); remove all but one";
            assertEquals(expected, conflict.message());
            PluginException e = assertThrows(PluginException.class, () -> registry.factory("qemu"));
            assertEquals(expected, e.getMessage());
        }
    }

    @Test
    void aSecondJarWithATakenPluginIdIsSkippedInOneLine() {
        good("acme", "acme");
        Path second = new PluginJarBuilder().descriptor("acme", "2.0.0", OK)
                .factory("com.example.acme2", "Factory", "acme2", "").build(dir.resolve("zz-acme.jar"));
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of("acme"), registry.types());
            PluginRegistry.Skipped s = onlySkipped(registry);
            assertEquals(second, s.file());
            assertEquals("plugin id 'acme' is already used by acme.jar; keep one of the two jars", s.reason());
        }
    }

    @Test
    void aMalformedPluginRequiresIsOneHvspiLine() {
        new PluginJarBuilder().descriptor("odd", "1.0.0", ">=1.0 &&& <<2")
                .factory("com.example.odd", "Factory", "odd", "").build(dir.resolve("odd.jar"));
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of(), registry.types());
            assertEquals("Plugin-Requires '>=1.0 &&& <<2' is not a version range (expected e.g. >=1.0.0 & <2.0.0)",
                    onlySkipped(registry).reason());
        }
    }

    @ParameterizedTest
    @NullSource
    @ValueSource(strings = {"*", " "})
    void aMissingOrWildcardPluginRequiresIsRefused(String requires) {
        good("acme", "acme");
        new PluginJarBuilder().descriptor("any", "1.0.0", requires)
                .factory("com.example.any", "Factory", "any", "").build(dir.resolve("any.jar"));
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of("acme"), registry.types());
            assertEquals("Plugin-Requires is missing or '*', which would accept any SPI version; state the SPI range"
                    + " the plugin was built for, e.g. Plugin-Requires: >=1.0.0 & <2.0.0", onlySkipped(registry).reason());
        }
    }

    @Test
    void factoriesOnTheClassPathAreFoundBesideTheJars() {
        good("acme", "acme");
        try (PluginRegistry registry = PluginRegistry.builder().directory(dir).classpath().load()) {
            assertEquals(List.of("acme", ClasspathFactory.TYPE), registry.types());
            PluginRegistry.Entry e = registry.entry(ClasspathFactory.TYPE).orElseThrow();
            assertTrue(e.classpath());
            assertEquals(ClasspathFactory.class, e.pluginFactory().getClass());
            assertTrue(e.origin().startsWith("class path: "), e.origin());
            assertEquals(ClasspathPlugins.location(ClasspathFactory.class), e.file());
            assertEquals(dir + " and the class path", registry.sources());
            // guarded like a jar's
            PluginException fault = assertThrows(PluginException.class, () -> registry.factory(ClasspathFactory.TYPE).create(null, null));
            assertEquals("plugin 'cpvmm' (" + e.origin() + ") failed in HypervisorFactory.create:"
                    + " IllegalStateException: class path factory: create", fault.getMessage());
        }
    }

    @Test
    void theClassPathIsSearchedOnlyWhenAsked() {
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of(), registry.types());
        }
    }

    @Test
    void aTypeOnTheClassPathAndInAJarIsAConflict() {
        good("jar-cpvmm", ClasspathFactory.TYPE);
        try (PluginRegistry registry = PluginRegistry.builder().directory(dir).classpath().load()) {
            assertEquals(List.of(), registry.types());
            PluginException e = assertThrows(PluginException.class, () -> registry.factory(ClasspathFactory.TYPE));
            assertTrue(e.getMessage().startsWith("hypervisor type 'cpvmm' is claimed by 2 plugins: 'cpvmm' (class path: "),
                    e.getMessage());
            assertTrue(e.getMessage().contains("'jar-cpvmm' (" + dir.resolve("jar-cpvmm.jar") + ")"), e.getMessage());
        }
    }

    private void misbehaving(String id, String members) {
        new PluginJarBuilder().descriptor(id, "1.0.0", OK).factoryWith("com.example." + id, "Factory", members)
                .build(dir.resolve(id + ".jar"));
    }

    /** Each way a factory can fail while it is looked at skips its own jar, named, and no other. */
    @ParameterizedTest
    @ValueSource(strings = {
        "public String type() { return type(); } public Set<Capability> declaredCapabilities() { return Set.of(); }",
        "public String type() { throw sneaky(new java.io.IOException(\"no disk\")); }"
                + " public Set<Capability> declaredCapabilities() { return Set.of(); }"
                + " @SuppressWarnings(\"unchecked\") static <T extends Throwable> RuntimeException sneaky(Throwable t)"
                + " throws T { throw (T) t; }",
        "public String type() { return \"bad\"; } public Set<Capability> declaredCapabilities() {"
                + " java.util.Set<Capability> s = new java.util.HashSet<>(); s.add(null); return s; }",
        "public String type() { return \"bad\"; } public Set<Capability> declaredCapabilities() { return Set.of(); }"
                + " public String description() { throw new IllegalStateException(\"no words\"); }",
        "public String type() { return \"bad\"; } public Set<Capability> declaredCapabilities() { return Set.of(); }"
                + " public String description() { return null; }"})
    void aFactoryThatFailsWhenAskedWhatItIsIsSkippedAndTheOthersLoad(String members) {
        good("acme", "acme");
        misbehaving("bad", members);
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of("acme"), registry.types());
            PluginRegistry.Skipped skipped = onlySkipped(registry);
            assertTrue(skipped.file().endsWith("bad.jar"), skipped::toString);
            assertEquals(1, skipped.reason().lines().count(), skipped::toString);
        }
    }

    /** The type, description and capabilities are read once, at load: later lookups never ask the plugin. */
    @Test
    void aTypeThatFailsAfterLoadingDoesNotHideTheOtherTypes() {
        good("acme", "acme");
        misbehaving("flaky", "private int asked; public String type() { if (asked++ > 0) throw new"
                + " IllegalStateException(\"asked twice\"); return \"flaky\"; }"
                + " public String description() { return \"flaky\"; }"
                + " public Set<Capability> declaredCapabilities() { return Set.of(Capability.BLOCK_DEVICE); }");
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of("acme", "flaky"), registry.types());
            assertEquals("acme", registry.entry("acme").orElseThrow().type());
            assertEquals(java.util.Set.of(io.hvspi.spi.Capability.BLOCK_DEVICE),
                    registry.entry("flaky").orElseThrow().declaredCapabilities());
        }
    }

    /** pf4j kept a plugin whose dependency was missing and failed every later jar on it. */
    @Test
    void aPluginDependingOnAnotherPluginIsSkippedAndTheOthersLoad() {
        new PluginJarBuilder().descriptor("needy", "1.0.0", OK).manifest("Plugin-Dependencies", "nosuch")
                .factory("com.example.needy", "Factory", "needy", "").build(dir.resolve("a-needy.jar"));
        good("acme", "acme");
        good("beta", "beta");
        PluginRegistry registry = PluginRegistry.load(dir);
        assertEquals(List.of("acme", "beta"), registry.types());
        assertTrue(onlySkipped(registry).reason().contains("declares Plugin-Dependencies [nosuch]"),
                onlySkipped(registry).reason());
        registry.close();
    }

    /** A factory that never says what it is does not hang every command that lists plugins. */
    @Test
    void aFactoryThatNeverAnswersIsSkippedAfterTheLoadTimeout() {
        good("acme", "acme");
        misbehaving("stuck", "public String type() { while (true) { try { Thread.sleep(60_000); }"
                + " catch (InterruptedException ignored) { } } }"
                + " public Set<Capability> declaredCapabilities() { return Set.of(); }");
        long began = System.nanoTime();
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of("acme"), registry.types());
            assertTrue(onlySkipped(registry).reason().contains("did not return within 10 s"),
                    onlySkipped(registry).reason());
        }
        assertTrue(System.nanoTime() - began < java.time.Duration.ofSeconds(40).toNanos(), "bounded");
    }

    /** pf4j reads a plain version as ">=" it; an open range would load on the next major version too. */
    @ParameterizedTest
    @ValueSource(strings = {"1.0.0", ">=1.0", ">=1.0.0 | >=1"})
    void aPluginRequiresWithoutAnUpperBoundIsRefused(String requires) {
        new PluginJarBuilder().descriptor("open", "1.0.0", requires).factory("com.example.open", "Factory", "open", "")
                .build(dir.resolve("open.jar"));
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of(), registry.types());
            assertTrue(onlySkipped(registry).reason().contains("accepts SPI 2.0.0 too"), onlySkipped(registry).reason());
        }
    }

    /** pf4j logged a failing Plugin-Class and went on to a NullPointerException in its own start. */
    @Test
    void aPluginClassFailingInItsConstructorIsSkippedWithItsCause() {
        new PluginJarBuilder().descriptor("booter", "1.0.0", OK).manifest("Plugin-Class", "com.example.booter.Boot")
                .source("com.example.booter", "Boot", """
                        package com.example.booter;
                        public class Boot extends org.pf4j.Plugin {
                            public Boot() { throw new IllegalStateException("no licence"); }
                        }
                        """)
                .factory("com.example.booter", "Factory", "booter", "").build(dir.resolve("booter.jar"));
        good("acme", "acme");
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of("acme"), registry.types());
            String reason = onlySkipped(registry).reason();
            assertTrue(reason.contains("Plugin-Class com.example.booter.Boot cannot be made: IllegalStateException:"
                    + " no licence"), reason);
        }
    }

    /** pf4j runs a Plugin-Class's constructor and start() on the loading thread: one that hangs hung every command. */
    @ParameterizedTest
    @ValueSource(strings = {"public Hang() { %s }", "public void start() { %s }"})
    void aPluginClassThatNeverReturnsIsSkippedAfterTheLoadTimeout(String member) {
        new PluginJarBuilder().descriptor("hang", "1.0.0", OK).manifest("Plugin-Class", "com.example.hang.Hang")
                .source("com.example.hang", "Hang", """
                        package com.example.hang;
                        public class Hang extends org.pf4j.Plugin {
                            %s
                        }
                        """.formatted(member.formatted(
                        "while (true) { try { Thread.sleep(60_000); } catch (InterruptedException ignored) { } }")))
                .factory("com.example.hang", "Factory", "hang", "").build(dir.resolve("hang.jar"));
        good("acme", "acme");
        long began = System.nanoTime();
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of("acme"), registry.types());
            String reason = onlySkipped(registry).reason();
            assertTrue(reason.contains("Plugin-Class com.example.hang.Hang") && reason.contains("did not return within 10 s"),
                    reason);
        }
        assertTrue(System.nanoTime() - began < java.time.Duration.ofSeconds(40).toNanos(), "bounded");
    }

    @Test
    void aPluginClassWhoseStartThrowsIsSkippedWithItsCause() {
        new PluginJarBuilder().descriptor("starter", "1.0.0", OK).manifest("Plugin-Class", "com.example.starter.Start")
                .source("com.example.starter", "Start", """
                        package com.example.starter;
                        public class Start extends org.pf4j.Plugin {
                            public void start() { throw new IllegalStateException("no licence"); }
                        }
                        """)
                .factory("com.example.starter", "Factory", "starter", "").build(dir.resolve("starter.jar"));
        good("acme", "acme");
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of("acme"), registry.types());
            String reason = onlySkipped(registry).reason();
            assertTrue(reason.contains("no licence"), reason);
        }
    }

    @Test
    void aDirectoryNamedLikeAJarIsListedAsSkipped() throws IOException {
        Files.createDirectory(dir.resolve("odd.jar"));
        good("acme", "acme");
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            assertEquals(List.of("acme"), registry.types());
            assertTrue(onlySkipped(registry).reason().startsWith("not a jar file"), onlySkipped(registry).reason());
        }
    }

    @Test
    void missingDirectoryIsAnError() {
        PluginException e = assertThrows(PluginException.class, () -> PluginRegistry.load(dir.resolve("nope")));
        assertTrue(e.getMessage().endsWith("nope does not exist"), e.getMessage());
    }
}
