package io.hvspi.tck.compat;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import io.hvspi.spi.Capability;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.SpiVersion;
import io.hvspi.tck.backend.DefaultBackends;
import io.hvspi.tck.backend.TckBackend;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import org.junit.platform.launcher.EngineFilter;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherConfig;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * Runs the compatibility kit against installed plugins through the JUnit
 * Platform launcher, one plugin at a time, each with its backend, and gathers
 * the matrix. This is {@code hvctl compat} without the command line.
 *
 * <pre>{@code
 * CompatReport report = CompatRunner.withDefaultBackends(workDir, System.err::println).run(plugins);
 * report.writeAll(outDir);
 * System.exit(report.exitCode());
 * }</pre>
 */
public final class CompatRunner {
    /** Only one kit run at a time per JVM: the launched test class finds its backend in a static slot. */
    private static final Object RUN_LOCK = new Object();

    private final BiFunction<HypervisorFactory, Path, TckBackend> backends;
    private final Path workRoot;
    private final Consumer<String> progress;

    /**
     * @param backends makes the backend for a plugin, given a fresh directory for it
     * @param workRoot where backends get their directories; keep it short (Unix socket paths live below it)
     * @param progress receives a line per plugin started and finished
     */
    public CompatRunner(BiFunction<HypervisorFactory, Path, TckBackend> backends, Path workRoot,
                        Consumer<String> progress) {
        this.backends = Objects.requireNonNull(backends, "backends");
        this.workRoot = Objects.requireNonNull(workRoot, "workRoot");
        this.progress = Objects.requireNonNull(progress, "progress");
    }

    /** A runner with {@link DefaultBackends}: real QEMU, the registered simulators, else the plugin's defaults. */
    public static CompatRunner withDefaultBackends(Path workRoot, Consumer<String> progress) {
        return new CompatRunner(DefaultBackends::forFactory, workRoot, progress);
    }

    /** Runs the kit against each plugin, in order. */
    public CompatReport run(List<PluginUnderTest> plugins) {
        return run(plugins, List.of(), List.of());
    }

    /** Runs the kit against each plugin, in order; the report also lists what did not load and the type conflicts. */
    public CompatReport run(List<PluginUnderTest> plugins, List<CompatReport.NotLoaded> notLoaded,
                            List<CompatReport.Conflict> conflicts) {
        Launcher launcher = launcher();
        List<TestCase> tests = ResultCollector.catalogue(launcher.discover(request()));
        List<PluginRun> runs = new ArrayList<>();
        for (PluginUnderTest plugin : plugins) {
            runs.add(runOne(launcher, plugin));
        }
        return new CompatReport(Instant.now(), SpiVersion.CURRENT, hostDescription(), tests, runs, notLoaded, conflicts);
    }

    private PluginRun runOne(Launcher launcher, PluginUnderTest plugin) {
        HypervisorFactory factory = plugin.factory();
        long start = System.nanoTime();
        TckBackend backend;
        try {
            backend = backends.apply(factory, Files.createDirectories(workRoot.resolve(plugin.pluginId())));
        } catch (IOException | RuntimeException e) {
            String reason = "cannot set up a backend: " + ResultCollector.describe(e);
            progress.accept(plugin.type() + ": error: " + reason);
            return run(plugin, PluginRun.Status.ERROR, Optional.of(reason), "none", start, Optional.empty(), Map.of());
        }
        String describe = backend.describe();
        Optional<String> unavailable = backend.unavailableReason();
        if (unavailable.isPresent()) {
            backend.close();
            progress.accept(plugin.type() + ": unavailable: " + unavailable.get());
            return run(plugin, PluginRun.Status.UNAVAILABLE, unavailable, describe, start, Optional.empty(), Map.of());
        }
        progress.accept(plugin.type() + ": running the kit on " + describe);
        ResultCollector collector = new ResultCollector();
        synchronized (RUN_LOCK) {
            CompatContractTest.CURRENT.set(backend);
            try {
                launcher.execute(request(), collector);
            } finally {
                CompatContractTest.CURRENT.set(null);
                backend.close();
            }
        }
        PluginRun run = run(plugin, PluginRun.Status.TESTED, Optional.empty(), describe, start, collector.effective(),
                collector.results());
        var counts = run.counts();
        progress.accept(String.format("%s: %d passed, %d failed, %d unsupported, %d skipped (%.1f s)", plugin.type(),
                counts.get(TestResult.Outcome.PASSED), counts.get(TestResult.Outcome.FAILED),
                counts.get(TestResult.Outcome.UNSUPPORTED), counts.get(TestResult.Outcome.SKIPPED),
                run.duration().toMillis() / 1000.0));
        return run;
    }

    private static PluginRun run(PluginUnderTest p, PluginRun.Status status, Optional<String> reason, String backend,
                                 long startNanos, Optional<Set<Capability>> effective,
                                 Map<String, TestResult> results) {
        return new PluginRun(p.pluginId(), p.type(), p.version(), p.factory().description(), status, reason, backend,
                p.factory().declaredCapabilities(), effective, Duration.ofNanos(System.nanoTime() - startNanos),
                results);
    }

    private static Launcher launcher() {
        // only Jupiter, and none of the listeners or filters that happen to be on the class path
        return LauncherFactory.create(LauncherConfig.builder()
                .enableTestExecutionListenerAutoRegistration(false)
                .enablePostDiscoveryFilterAutoRegistration(false)
                .enableLauncherDiscoveryListenerAutoRegistration(false)
                .enableLauncherSessionListenerAutoRegistration(false)
                .build());
    }

    private static LauncherDiscoveryRequest request() {
        return LauncherDiscoveryRequestBuilder.request()
                .selectors(selectClass(CompatContractTest.class))
                .filters(EngineFilter.includeEngines("junit-jupiter"))
                .configurationParameter("junit.jupiter.extensions.autodetection.enabled", "false")
                .configurationParameter("junit.jupiter.execution.parallel.enabled", "false")
                .build();
    }

    private static String hostDescription() {
        return System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                + System.getProperty("os.arch") + ", " + Runtime.getRuntime().availableProcessors() + " CPUs, Java "
                + Runtime.version();
    }
}
