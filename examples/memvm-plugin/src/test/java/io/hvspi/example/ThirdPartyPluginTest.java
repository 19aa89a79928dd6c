package io.hvspi.example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.plugin.PluginRegistry;
import io.hvspi.spi.Capability;
import io.hvspi.tck.compat.CompatReport;
import io.hvspi.tck.compat.CompatRunner;
import io.hvspi.tck.compat.PluginRun;
import io.hvspi.tck.compat.PluginUnderTest;
import io.hvspi.tck.compat.TestCase;
import io.hvspi.tck.compat.TestResult;
import io.hvspi.tck.plugin.PluginJar;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The third-party path end to end: memvm's sources packaged as a plugin jar
 * (javac with pf4j's processor, descriptor in the manifest), dropped into a
 * plugins directory, found by the registry, and run through the compatibility
 * kit; a variant with a wrong declaration makes the run fail.
 */
class ThirdPartyPluginTest {
    /** The plugin's sources, and the test-only flavours' factories (relative to this module). */
    static final Path SOURCES = Path.of("src", "main", "java", "io", "hvspi", "example", "memvm");
    static final Path FLAVOURS = Path.of("src", "test", "java", "io", "hvspi", "example", "memvm");
    private static final String HONEST = "MemVmHypervisorFactory.java";

    @TempDir
    Path tmp;

    /** Packages memvm with one flavour's factory: the shared classes plus {@code factorySource}. */
    static Path packageMemVm(String pluginId, String factorySource, Path pluginsDir, Path buildDir) {
        String name = factorySource;
        return PluginJar.builder(pluginId, "1.0.0")
                .manifest("Plugin-Description", "memvm, the worked example")
                .sources(SOURCES, p -> name.equals(HONEST) || !p.getFileName().toString().equals(HONEST))
                .sources(FLAVOURS, p -> p.getFileName().toString().equals(name))
                .build(pluginsDir.resolve(pluginId + "-1.0.0.jar"), buildDir);
    }

    private static List<PluginUnderTest> underTest(PluginRegistry registry) {
        List<PluginUnderTest> out = new ArrayList<>();
        registry.entries().forEach(e -> out.add(new PluginUnderTest(e.pluginId(), e.version(), e.pluginFactory())));
        return out;
    }

    @Test
    void registryLoadsThePackagedPluginFromItsJar() {
        Path plugins = tmp.resolve("plugins");
        Path jar = packageMemVm("memvm", "MemVmHypervisorFactory.java", plugins, tmp);
        try (PluginRegistry registry = PluginRegistry.load(plugins)) {
            assertEquals(List.of("memvm"), registry.types());
            assertEquals(List.of(), registry.skipped());
            PluginRegistry.Entry e = registry.entry("memvm").orElseThrow();
            assertEquals("memvm", e.pluginId());
            assertEquals("1.0.0", e.version());
            assertEquals(jar, e.file());
            assertTrue(e.factory().declaredCapabilities().contains(Capability.INDEPENDENT_IOTHREADS));
            // from the jar's own class loader, not this test's class path
            assertNotSame(getClass().getClassLoader(), e.pluginFactory().getClass().getClassLoader());
            assertNotSame(io.hvspi.example.memvm.MemVmHypervisorFactory.class, e.pluginFactory().getClass());
        }
    }

    @Test
    void compatRunsTheKitAgainstTheInstalledPluginAndPasses() {
        Path plugins = tmp.resolve("plugins");
        packageMemVm("memvm", "MemVmHypervisorFactory.java", plugins, tmp);
        try (PluginRegistry registry = PluginRegistry.load(plugins)) {
            CompatReport report = CompatRunner.withDefaultBackends(tmp.resolve("work"), s -> { }).run(underTest(registry));
            PluginRun run = report.plugins().get(0);
            assertEquals(PluginRun.Status.TESTED, run.status());
            assertEquals("plugin defaults (no endpoint), accel=tcg, no guest", run.backend());
            // memvm's VMM lives in the plugin's process: no backend can kill it behind the plugin's back,
            // so the one test that needs that is skipped, with that reason; every other one passes
            assertEquals(java.util.Set.of("events.vmmDeathIsReported"), run.results().entrySet().stream()
                    .filter(e -> e.getValue().outcome() == TestResult.Outcome.SKIPPED).map(java.util.Map.Entry::getKey)
                    .collect(java.util.stream.Collectors.toSet()), () -> run.results().toString());
            assertEquals(report.tests().size() - 1, run.counts().get(TestResult.Outcome.PASSED)
                    + run.counts().get(TestResult.Outcome.UNSUPPORTED), () -> run.results().toString());
            assertEquals(0, report.exitCode());
        }
    }

    @Test
    void aPluginWithAWrongDeclarationFailsCompat() {
        Path plugins = tmp.resolve("plugins");
        packageMemVm("memvm", "MemVmHypervisorFactory.java", plugins, tmp);
        packageMemVm("memvm-liar", "MemVmLiarFactory.java", plugins, tmp);
        try (PluginRegistry registry = PluginRegistry.load(plugins)) {
            assertEquals(List.of("memvm", "memvm-liar"), registry.types());
            CompatReport report = CompatRunner.withDefaultBackends(tmp.resolve("work"), s -> { }).run(underTest(registry));
            assertEquals(1, report.exitCode());
            PluginRun honest = report.plugins().get(0);
            PluginRun liar = report.plugins().get(1);
            assertEquals(false, honest.failed());
            assertTrue(liar.failed());
            TestCase move = report.testsFor(Capability.IOTHREAD_MOVE).get(0);
            assertEquals(TestResult.Outcome.FAILED, liar.result(move).orElseThrow().outcome());
        }
    }
}
