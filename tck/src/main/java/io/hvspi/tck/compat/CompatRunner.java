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
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import java.util.function.Supplier;
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
    /** How long one plugin's whole run may take before it is given up, marked an error, and the next one runs. */
    public static final Duration DEFAULT_PLUGIN_DEADLINE = Duration.ofMinutes(30);

    private final BiFunction<HypervisorFactory, Path, TckBackend> backends;
    private final Path workRoot;
    private final Consumer<String> progress;
    private final Duration pluginDeadline;
    private final List<Path> kept = new CopyOnWriteArrayList<>();
    private final Set<String> used = new java.util.HashSet<>();

    /**
     * @param backends makes the backend for a plugin, given a fresh directory for it
     * @param workRoot where backends get their directories; keep it short (Unix socket paths live below it)
     * @param progress receives a line per plugin started and finished
     */
    public CompatRunner(BiFunction<HypervisorFactory, Path, TckBackend> backends, Path workRoot,
                        Consumer<String> progress) {
        this(backends, workRoot, progress, DEFAULT_PLUGIN_DEADLINE);
    }

    /**
     * @param pluginDeadline how long one plugin's run may take; past it the plugin is an
     *        {@link PluginRun.Status#ERROR}, its VMs are ended, and the next plugin runs
     */
    public CompatRunner(BiFunction<HypervisorFactory, Path, TckBackend> backends, Path workRoot,
                        Consumer<String> progress, Duration pluginDeadline) {
        this.backends = Objects.requireNonNull(backends, "backends");
        this.workRoot = Objects.requireNonNull(workRoot, "workRoot");
        this.progress = Objects.requireNonNull(progress, "progress");
        this.pluginDeadline = Objects.requireNonNull(pluginDeadline, "pluginDeadline");
        if (pluginDeadline.isNegative() || pluginDeadline.isZero()) {
            throw new IllegalArgumentException("the per-plugin deadline must be positive: " + pluginDeadline);
        }
    }

    /** A runner with {@link DefaultBackends}: real QEMU, the registered simulators, else the plugin's defaults. */
    public static CompatRunner withDefaultBackends(Path workRoot, Consumer<String> progress) {
        return withDefaultBackends(workRoot, progress, DEFAULT_PLUGIN_DEADLINE);
    }

    /** The same with a per-plugin deadline. */
    public static CompatRunner withDefaultBackends(Path workRoot, Consumer<String> progress, Duration pluginDeadline) {
        return new CompatRunner(DefaultBackends::forFactory, workRoot, progress, pluginDeadline);
    }

    /**
     * The plugins' work directories kept after the run because a VMM of theirs still runs
     * (the report's reason names it): whoever removes the work root must keep these.
     */
    public List<Path> kept() {
        return List.copyOf(kept);
    }

    /** Runs the kit against each plugin, in order. */
    public CompatReport run(List<PluginUnderTest> plugins) {
        return run(plugins, List.of(), List.of());
    }

    /**
     * Runs the kit against each plugin, in order; the report also lists what did not load and the type
     * conflicts. Whatever a plugin does (throws an {@code Error}, hangs) fails that plugin's column only.
     */
    public CompatReport run(List<PluginUnderTest> plugins, List<CompatReport.NotLoaded> notLoaded,
                            List<CompatReport.Conflict> conflicts) {
        List<TestCase> tests = ResultCollector.catalogue(launcher().discover(request()));
        List<PluginRun> runs = new ArrayList<>();
        for (PluginUnderTest plugin : plugins) {
            Facts facts = Facts.of(plugin);
            long start = System.nanoTime();
            try {
                runs.add(runOne(plugin, facts, start));
            } catch (Throwable e) {
                // our bug or the plugin's, it must not take the other plugins' results with it
                String reason = "plugin '" + plugin.pluginId() + "': the kit's run broke: " + ResultCollector.describe(e);
                progress.accept(facts.type + ": error: " + reason);
                runs.add(run(plugin, facts, PluginRun.Status.ERROR, Optional.of(reason), "none", start,
                        Optional.empty(), Map.of()));
            }
        }
        return new CompatReport(Instant.now(), SpiVersion.CURRENT, hostDescription(), tests, runs, notLoaded, conflicts);
    }

    /**
     * What the report says about a plugin apart from its results, read from the plugin once, each
     * call guarded: a failure is the plugin's, one line naming it.
     */
    private record Facts(String type, String description, Set<Capability> declared, Optional<String> problem) {
        static Facts of(PluginUnderTest plugin) {
            String id = plugin.pluginId();
            List<String> problems = new ArrayList<>();
            String type = read(plugin.factory()::type, id, "type()", problems);
            String description = read(plugin.factory()::description, id, "description()", problems);
            Set<Capability> raw = read(plugin.factory()::declaredCapabilities, id, "declaredCapabilities()", problems);
            Set<Capability> declared = EnumSet.noneOf(Capability.class);
            if (raw != null) {
                try {
                    boolean nullElement = false;
                    for (Capability c : raw) {
                        if (c == null) {
                            nullElement = true;
                        } else {
                            declared.add(c);
                        }
                    }
                    if (nullElement) {
                        problems.add("plugin '" + id + "': declaredCapabilities() holds null");
                    }
                } catch (Throwable e) {
                    problems.add("plugin '" + id + "': declaredCapabilities() failed while read: "
                            + ResultCollector.describe(e));
                }
            }
            return new Facts(type == null ? id : type, description == null ? "" : description, declared,
                    problems.stream().findFirst());
        }

        private static <T> T read(Supplier<T> call, String id, String method, List<String> problems) {
            try {
                T value = call.get();
                if (value == null) {
                    problems.add("plugin '" + id + "': " + method + " returned null");
                }
                return value;
            } catch (Throwable e) {
                problems.add("plugin '" + id + "': " + method + " threw " + ResultCollector.describe(e));
                return null;
            }
        }
    }

    private PluginRun runOne(PluginUnderTest plugin, Facts facts, long start) {
        String type = facts.type;
        if (facts.problem.isPresent()) {
            progress.accept(type + ": error: " + facts.problem.get());
            return run(plugin, facts, PluginRun.Status.ERROR, facts.problem, "none", start, Optional.empty(), Map.of());
        }
        Path dir = freshDir(plugin.pluginId());
        TckBackend backend;
        try {
            backend = backends.apply(plugin.factory(), Files.createDirectories(dir));
        } catch (IOException | RuntimeException e) {
            String reason = "cannot set up a backend: " + ResultCollector.describe(e);
            progress.accept(type + ": error: " + reason);
            return run(plugin, facts, PluginRun.Status.ERROR, Optional.of(reason), "none", start, Optional.empty(),
                    Map.of());
        }
        String describe = backend.describe();
        Optional<String> unavailable = backend.unavailableReason();
        if (unavailable.isPresent()) {
            backend.close();
            progress.accept(type + ": unavailable: " + unavailable.get());
            return run(plugin, facts, PluginRun.Status.UNAVAILABLE, unavailable, describe, start, Optional.empty(),
                    Map.of());
        }
        progress.accept(type + ": running the kit on " + describe);
        ResultCollector collector = new ResultCollector();
        CompatContractTest.Run kitRun = new CompatContractTest.Run(backend, facts.declared);
        Optional<String> error = Optional.empty();
        try {
            error = execute(plugin, kitRun, collector);
        } finally {
            // ends whatever VMM the plugin's stops left running, before its records go
            backend.close();
        }
        List<String> left = backend.leftRunning();
        if (!left.isEmpty()) {
            kept.add(dir);
            String leak = "plugin '" + plugin.pluginId() + "' left a VMM the kit could not end: " + left.getFirst()
                    + (left.size() > 1 ? " (and " + (left.size() - 1) + " more)" : "");
            error = Optional.of(error.map(e -> e + "; " + leak).orElse(leak));
        }
        PluginRun run = run(plugin, facts, error.isPresent() ? PluginRun.Status.ERROR : PluginRun.Status.TESTED, error,
                describe, start, collector.effective(), collector.results());
        var counts = run.counts();
        error.ifPresent(e -> progress.accept(type + ": error: " + e));
        progress.accept(String.format("%s: %d passed, %d failed, %d unsupported, %d skipped (%.1f s)", type,
                counts.get(TestResult.Outcome.PASSED), counts.get(TestResult.Outcome.FAILED),
                counts.get(TestResult.Outcome.UNSUPPORTED), counts.get(TestResult.Outcome.SKIPPED),
                run.duration().toMillis() / 1000.0));
        return run;
    }

    /**
     * A directory no other run of this runner had: one plugin may hold several types, and a run
     * given up past its deadline may still clean its own directory later; it must never be the
     * next run's.
     */
    private Path freshDir(String pluginId) {
        String name = pluginId;
        for (int n = 2; !used.add(name) || Files.exists(workRoot.resolve(name)); n++) {
            name = pluginId + "-" + n;
        }
        return workRoot.resolve(name);
    }

    /**
     * Launches the kit for one plugin on a thread of its own and waits up to the per-plugin
     * deadline; empty when the launch ended, else why it did not (what it threw, or the deadline:
     * the run is then given up, its kit makes no more VMs, and its thread is left behind).
     */
    private Optional<String> execute(PluginUnderTest plugin, CompatContractTest.Run kitRun,
                                     ResultCollector collector) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Thread t = Thread.ofPlatform().daemon().name("hvspi-compat-" + plugin.pluginId()).unstarted(() -> {
            CompatContractTest.CURRENT.set(kitRun);
            try {
                launcher().execute(request(), collector);
                done.complete(null);
            } catch (Throwable e) {
                done.completeExceptionally(e);
            } finally {
                CompatContractTest.CURRENT.remove();
            }
        });
        t.start();
        String who = "plugin '" + plugin.pluginId() + "'";
        try {
            done.get(pluginDeadline.toMillis(), TimeUnit.MILLISECONDS);
            return Optional.empty();
        } catch (ExecutionException e) {
            return Optional.of(who + ": the kit's run broke: " + ResultCollector.describe(e.getCause()));
        } catch (TimeoutException e) {
            String reason = who + " did not finish the kit within " + pluginDeadline.toSeconds() + " s"
                    + collector.running().map(r -> " (still in " + r + ")").orElse("") + "; given up";
            kitRun.abandon(reason);
            t.interrupt();
            return Optional.of(reason);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            kitRun.abandon(who + ": the compatibility run was interrupted");
            return Optional.of(who + ": the compatibility run was interrupted");
        }
    }

    private static PluginRun run(PluginUnderTest p, Facts facts, PluginRun.Status status, Optional<String> reason,
                                 String backend, long startNanos, Optional<Set<Capability>> effective,
                                 Map<String, TestResult> results) {
        return new PluginRun(p.pluginId(), facts.type, p.version(), facts.description, status, reason, backend,
                facts.declared, effective, Duration.ofNanos(System.nanoTime() - startNanos), results);
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
