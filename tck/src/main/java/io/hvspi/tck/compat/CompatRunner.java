package io.hvspi.tck.compat;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import io.hvspi.core.plugin.PluginCall;
import io.hvspi.spi.Capability;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.SpiVersion;
import io.hvspi.tck.TckKit;
import io.hvspi.tck.backend.DefaultBackends;
import io.hvspi.tck.backend.TckBackend;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import java.util.regex.Pattern;
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
    /** How long a plugin's {@code type()}, {@code description()}, {@code declaredCapabilities()} or backend may take (at most the deadline). */
    static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);
    /** How long a run given up past its deadline gets to end through its own cleanup (at most the deadline). */
    static final Duration ABANDON_GRACE = Duration.ofSeconds(30);

    private final BiFunction<HypervisorFactory, Path, TckBackend> backends;
    private final Path workRoot;
    private final Consumer<String> progress;
    private final Duration pluginDeadline;
    private final List<Path> kept = new CopyOnWriteArrayList<>();
    private final Set<String> used = new java.util.HashSet<>();
    /** The backend of the plugin the kit runs now, for {@link #abandon}. */
    private volatile TckBackend current;
    private volatile boolean abandoned;

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
        TckKit.defaultStopTimeout(); // a bad hvspi.tck.stopTimeout is refused before any plugin runs
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
    /**
     * Ends the run from another thread (a signal's exit hook): the current backend closes, which
     * ends its VMMs and refuses new VMs, and no later plugin starts. The run's own thread may still
     * be inside plugin code, which can leave files behind; the caller sweeps the work root after.
     */
    public void abandon() {
        abandoned = true;
        TckBackend b = current;
        if (b != null) {
            b.close();
        }
    }

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
            Facts facts = Facts.of(plugin, callTimeout());
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
     * What the report says about a plugin apart from its results: as read at load when the plugin
     * came with its declaration, else read from the plugin once here, each call bounded by
     * {@code timeout} on a thread of its own ({@link PluginCall}): a failure is the plugin's, one line
     * naming it, and a call that never returns holds neither this run nor the next plugin.
     */
    private record Facts(String type, String description, Set<Capability> declared, Optional<String> problem) {
        static Facts of(PluginUnderTest plugin, Duration timeout) {
            if (plugin.declaration().isPresent()) {
                PluginUnderTest.Declaration d = plugin.declaration().get();
                return new Facts(d.type(), d.description(), d.declaredCapabilities(), Optional.empty());
            }
            String id = plugin.pluginId();
            HypervisorFactory factory = plugin.factory();
            List<String> problems = new ArrayList<>();
            String type = read(factory::type, id, "type()", timeout, problems);
            String description = read(factory::description, id, "description()", timeout, problems);
            // copied on the plugin's thread: the set's own iterator is plugin code too
            List<Capability> raw = read(() -> {
                Set<Capability> set = factory.declaredCapabilities();
                return set == null ? null : new ArrayList<>(set);
            }, id, "declaredCapabilities()", timeout, problems);
            Set<Capability> declared = EnumSet.noneOf(Capability.class);
            if (raw != null) {
                raw.stream().filter(Objects::nonNull).forEach(declared::add);
                if (raw.contains(null)) {
                    problems.add("plugin '" + id + "': declaredCapabilities() holds null");
                }
            }
            return new Facts(type == null ? id : type, description == null ? "" : description, declared,
                    problems.stream().findFirst());
        }

        private static <T> T read(Callable<T> call, String id, String method, Duration timeout,
                                  List<String> problems) {
            String who = "plugin '" + id + "': " + method;
            return switch (PluginCall.run("hvspi-compat-" + method.replace("()", ""), timeout, call)) {
                case PluginCall.Returned<T> r -> {
                    if (r.value() == null) {
                        problems.add(who + " returned null");
                    }
                    yield r.value();
                }
                case PluginCall.Threw<T> threw -> {
                    problems.add(who + " threw " + ResultCollector.describe(threw.thrown()));
                    yield null;
                }
                case PluginCall.TimedOut<T> timedOut -> {
                    problems.add(who + " did not return within " + timeout.toMillis() + " ms");
                    yield null;
                }
            };
        }
    }

    private PluginRun runOne(PluginUnderTest plugin, Facts facts, long start) {
        String type = facts.type;
        if (abandoned) {
            return run(plugin, facts, PluginRun.Status.ERROR, Optional.of("the run was ended before this plugin"),
                    "none", start, Optional.empty(), Map.of());
        }
        if (facts.problem.isPresent()) {
            progress.accept(type + ": error: " + facts.problem.get());
            return run(plugin, facts, PluginRun.Status.ERROR, facts.problem, "none", start, Optional.empty(), Map.of());
        }
        Path dir = freshDir(plugin.pluginId());
        // bounded: a default backend asks the factory its type, which is plugin code
        Optional<String> broke = Optional.empty();
        TckBackend backend = null;
        switch (PluginCall.run("hvspi-compat-backend", callTimeout(),
                () -> backends.apply(plugin.factory(), Files.createDirectories(dir)))) {
            case PluginCall.Returned<TckBackend> r -> backend = r.value();
            case PluginCall.Threw<TckBackend> threw -> broke = Optional.of(ResultCollector.describe(threw.thrown()));
            case PluginCall.TimedOut<TckBackend> timedOut -> broke = Optional.of("no backend within "
                    + callTimeout().toMillis() + " ms");
        }
        if (backend == null) {
            String reason = "cannot set up a backend: " + broke.orElse("the backend factory returned null");
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
        current = backend;
        if (abandoned) {
            backend.close(); // abandon() ran before the backend was current
        }
        progress.accept(type + ": running the kit on " + describe);
        ResultCollector collector = new ResultCollector();
        CompatContractTest.Run kitRun = new CompatContractTest.Run(backend, facts.declared);
        Optional<String> error = Optional.empty();
        try {
            error = execute(plugin, kitRun, collector);
        } finally {
            // Ends whatever VMM the plugin's stops left running, before its records go. Usually the
            // launch closed it already (the kit's @AfterAll): this close waits for that one and changes
            // nothing. Past the deadline, the run given up had its grace to close it itself; whichever
            // comes first does the work, once, and the other's close is a no-op (BaseTckBackend).
            backend.close();
            current = null;
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
     * next run's. Always a child of the work root, whatever the plugin id holds ({@link #dirName}).
     */
    private Path freshDir(String pluginId) {
        String base = dirName(pluginId);
        String name = base;
        for (int n = 2; !used.add(name) || Files.exists(workRoot.resolve(name)); n++) {
            name = base + "-" + n;
        }
        return workRoot.resolve(name);
    }

    private static final Pattern SAFE_NAME = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}");

    /**
     * The directory name for a plugin id: the id itself when it is a plain name (letters, digits,
     * {@code . _ -}, no leading dot, at most 64 characters), else {@code plugin-} and a hash of it. A
     * {@code Plugin-Id} is the plugin author's text: with {@code /} or {@code ..} in it, the directory
     * the backend's close deletes would lie outside the work root.
     */
    static String dirName(String pluginId) {
        if (SAFE_NAME.matcher(pluginId).matches()) {
            return pluginId;
        }
        try {
            byte[] hash = MessageDigest.getInstance("SHA-256").digest(pluginId.getBytes(StandardCharsets.UTF_8));
            return "plugin-" + HexFormat.of().formatHex(hash, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("no SHA-256 in this JVM", e); // every JVM has it
        }
    }

    /** How long one call of a plugin's outside a test (its type, description, capabilities; its backend) may take. */
    private Duration callTimeout() {
        return pluginDeadline.compareTo(CALL_TIMEOUT) < 0 ? pluginDeadline : CALL_TIMEOUT;
    }

    /**
     * Launches the kit for one plugin on a thread of its own ({@link PluginCall}) and waits up to the
     * per-plugin deadline; empty when the launch ended, else why it did not (what it threw, or the
     * deadline). Past the deadline the run is given up: its kit makes no more VMs, its thread is
     * interrupted, and it gets up to {@link #ABANDON_GRACE} to end through its own cleanup (which
     * closes the backend) before the caller closes the backend itself; a thread still stuck then is
     * left behind, and everything it tries on the closed backend is refused.
     */
    private Optional<String> execute(PluginUnderTest plugin, CompatContractTest.Run kitRun,
                                     ResultCollector collector) {
        String who = "plugin '" + plugin.pluginId() + "'";
        PluginCall.Outcome<Void> outcome = PluginCall.run("hvspi-compat-" + plugin.pluginId(), pluginDeadline, () -> {
            CompatContractTest.CURRENT.set(kitRun);
            try {
                launcher().execute(request(), collector);
            } finally {
                CompatContractTest.CURRENT.remove();
            }
        });
        return switch (outcome) {
            case PluginCall.Returned<Void> r -> Optional.empty();
            case PluginCall.Threw<Void> threw -> Optional.of(who + ": the kit's run broke: "
                    + ResultCollector.describe(threw.thrown()));
            case PluginCall.TimedOut<Void> timedOut -> {
                if (Thread.currentThread().isInterrupted()) {
                    kitRun.abandon(who + ": the compatibility run was interrupted");
                    yield Optional.of(who + ": the compatibility run was interrupted");
                }
                String reason = who + " did not finish the kit within " + pluginDeadline.toSeconds() + " s"
                        + " (still in " + collector.where() + "); given up";
                kitRun.abandon(reason);
                awaitQuietly(timedOut.done(), pluginDeadline.compareTo(ABANDON_GRACE) < 0 ? pluginDeadline
                        : ABANDON_GRACE);
                yield Optional.of(reason);
            }
        };
    }

    private static void awaitQuietly(CompletableFuture<?> done, Duration grace) {
        try {
            done.get(grace.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            // it broke or is still stuck: the caller closes the backend either way
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
