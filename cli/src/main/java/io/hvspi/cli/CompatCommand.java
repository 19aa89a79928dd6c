package io.hvspi.cli;

import io.hvspi.core.state.RuntimeDirs;
import io.hvspi.core.plugin.PluginRegistry;
import io.hvspi.spi.PluginException;
import io.hvspi.tck.TckKit;
import io.hvspi.tck.compat.CompatReport;
import io.hvspi.tck.compat.CompatRunner;
import io.hvspi.tck.compat.JsonReportWriter;
import io.hvspi.tck.compat.PluginRun;
import io.hvspi.tck.compat.PluginUnderTest;
import io.hvspi.tck.compat.TestResult;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "compat", header = "Run the compatibility kit against every installed plugin.",
        description = "Each plugin runs on its default backend (real QEMU"
            + " with accel=tcg, hvspi's simulators for clh and dragonball, a third party's own defaults); the matrix is"
            + " written as compat.json, compat.md and compat.html. A plugin whose backend cannot run here is"
            + " reported unavailable, not passed; jars that did not load are listed with the reason. Exits 7 when a"
            + " contract test fails, 4 when two plugins claim one hypervisor type (neither is tested).")
final class CompatCommand implements Callable<Integer> {
    @Option(names = PluginOptions.DIR, paramLabel = "DIR", description = PluginOptions.DIR_HELP,
            converter = PluginOptions.Dir.class)
    Path pluginsDir;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "compat",
            description = "Where to write the reports (default: ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--only", paramLabel = "TYPE", split = NumericOptions.LIST_SPLIT, splitSynopsisLabel = ",",
            description = "Test only these hypervisor types (repeatable, or comma-separated).")
    List<String> only = new ArrayList<>();

    @Option(names = "--plugin-timeout", paramLabel = "SECONDS", defaultValue = "1800",
            converter = NumericOptions.Seconds.class,
            description = "How long one plugin's whole run may take; past it the plugin is reported as an error,"
                + " its VMs are ended, and the next plugin runs (default: ${DEFAULT-VALUE}).")
    double pluginTimeoutSeconds;

    @Option(names = "--quiet", description = "No progress lines on stderr.")
    boolean quiet;

    @Option(names = "--json", description = "Print the report's JSON (as in compat.json) instead of the table.")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        for (String type : only) {
            // LIST_SPLIT keeps a lone or trailing comma in its element: "," or "a," is refused here, not dropped
            if (type.isBlank() || type.contains(",")) {
                throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                        "--only: empty hypervisor type in '" + String.join(",", only) + "'");
            }
        }
        ReportDir.prepare(spec.commandLine(), out); // before the kit runs: a bad --out costs no run
        Progress progress = new Progress(spec.commandLine().getErr(), !quiet);
        try (PluginRegistry registry = PluginRegistry.load(pluginsDir != null ? pluginsDir : Home.pluginsDir())) {
            registry.skipped().forEach(s -> progress.step("skipped " + s.file() + ": " + s.reason()));
            List<PluginUnderTest> plugins = select(registry);
            // VMs and simulator sockets live here; a short path keeps sockets under the 107-byte limit
            try {
                TckKit.defaultStopTimeout(); // a bad -Dhvspi.tck.stopTimeout is one line, not a stack trace
            } catch (IllegalArgumentException e) {
                throw new picocli.CommandLine.ParameterException(spec.commandLine(), e.getMessage());
            }
            Path work;
            try {
                work = Files.createTempDirectory("hvspi-compat-");
            } catch (IOException e) {
                throw new io.hvspi.spi.HvspiException("cannot make the kit's work directory under "
                        + System.getProperty("java.io.tmpdir") + ": " + e.getMessage(), e);
            }
            CompatReport report;
            CompatRunner runner = CompatRunner.withDefaultBackends(work, progress::step,
                    Duration.ofMillis((long) (pluginTimeoutSeconds * 1000)));
            // ended by a signal, hvctl still ends the kit's VMs, which run without the host's exit hook
            io.hvspi.core.host.ClosedOnExit sweep = io.hvspi.core.host.HvspiHost.builder().plugins(registry)
                    .runtimeRoot(work).build().closeOnExit(new KitLeftovers(work, runner::abandon));
            try {
                report = runner.run(plugins, notLoaded(registry), conflicts(registry));
            } finally {
                removeWork(work, runner.kept(), spec.commandLine().getErr());
                sweep.close(); // nothing left to do once the work is removed; else it ends what the kit kept
            }
            // the results first: a report that cannot be written is then not lost
            if (json) {
                stdout.print(JsonReportWriter.write(report));
            } else {
                print(stdout, report);
            }
            stdout.flush();
            ReportDir.write(out, report::writeAll, json, progress, stdout);
            report.conflicts().forEach(c -> spec.commandLine().getErr().println("hvctl: error: " + c.message()));
            if (plugins.isEmpty() && report.conflicts().isEmpty()) {
                spec.commandLine().getErr().println("hvctl: error: no plugin in " + registry.sources()
                        + " could be tested; the report lists why each did not load");
            }
            if (!report.conflicts().isEmpty() || plugins.isEmpty()) {
                return ExitCode.PLUGIN;
            }
            return report.exitCode() == 0 ? ExitCode.OK : ExitCode.COMPAT_FAILED;
        }
    }

    /**
     * Removes the work root, except the directories of a plugin whose VMM still runs: its record
     * there is the only way to find that VMM again (the report names it).
     */
    private static void removeWork(Path work, List<Path> kept, PrintWriter err) {
        try {
            if (kept.isEmpty()) {
                RuntimeDirs.deleteTree(work);
                return;
            }
            try (var dirs = Files.list(work)) {
                for (Path dir : dirs.toList()) {
                    if (!kept.contains(dir)) {
                        RuntimeDirs.deleteTree(dir);
                    }
                }
            }
        } catch (IOException | io.hvspi.spi.HvspiException e) {
            // the report matters more than the scratch space: say what is left and go on
            err.println("hvctl: warning: could not remove the kit's work directory " + work + ": " + e.getMessage());
        }
        kept.forEach(dir -> err.println("hvctl: warning: kept " + dir + ": a VMM started under it still runs"));
    }

    private static List<CompatReport.NotLoaded> notLoaded(PluginRegistry registry) {
        return registry.skipped().stream().map(s -> new CompatReport.NotLoaded(s.file().toString(), s.reason())).toList();
    }

    private static List<CompatReport.Conflict> conflicts(PluginRegistry registry) {
        return registry.conflicts().stream().map(c -> new CompatReport.Conflict(c.type(),
                c.claimants().stream().map(e -> "'" + e.pluginId() + "' (" + e.origin() + ")").toList(),
                c.message())).toList();
    }

    private List<PluginUnderTest> select(PluginRegistry registry) {
        List<PluginRegistry.Entry> entries = only.isEmpty()
                ? registry.entries()
                : only.stream().map(type -> {
                    registry.factory(type); // "no plugin installed for hypervisor 'x' (installed: ...)"
                    return registry.entry(type).orElseThrow();
                }).toList();
        if (entries.isEmpty() && registry.skipped().isEmpty() && registry.conflicts().isEmpty()) {
            throw new PluginException("no plugins installed in " + registry.sources());
        }
        // the plugin's own factory, not the guarded one: the kit must see exactly what the plugin throws;
        // its type, description and capabilities as the registry read them at load (bounded), not asked again
        return entries.stream().map(e -> new PluginUnderTest(e.pluginId(), e.version(), e.pluginFactory(), e.type(),
                e.description(), e.declaredCapabilities())).toList();
    }

    private static void print(PrintWriter out, CompatReport report) {
        Table table = new Table("TYPE", "PLUGIN", "STATUS", "PASSED", "FAILED", "UNSUPPORTED", "SKIPPED", "TIME", "BACKEND");
        for (PluginRun run : report.plugins()) {
            var counts = run.counts();
            table.row(run.type(), run.pluginId() + " " + run.version(),
                    run.status().key() + run.reason().map(r -> ": " + r).orElse(""),
                    counts.get(TestResult.Outcome.PASSED), counts.get(TestResult.Outcome.FAILED),
                    counts.get(TestResult.Outcome.UNSUPPORTED), counts.get(TestResult.Outcome.SKIPPED),
                    String.format(Locale.ROOT, "%.1fs", run.duration().toMillis() / 1000.0), run.backend());
        }
        table.print(out);
    }
}
