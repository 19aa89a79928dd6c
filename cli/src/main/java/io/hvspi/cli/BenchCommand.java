package io.hvspi.cli;

import io.hvspi.core.config.Accelerator;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.cli.bench.BenchReport;
import io.hvspi.cli.bench.HotplugBench;
import io.hvspi.cli.bench.IoBench;
import io.hvspi.cli.bench.IoBenchReport;
import io.hvspi.cli.bench.IoMode;
import io.hvspi.core.host.HvspiHost;
import io.hvspi.core.host.LoadedConfig;
import io.hvspi.spi.ConfigException;
import io.hvspi.spi.VmSpec;
import io.hvspi.guest.GuestException;
import io.hvspi.guest.TestGuest;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

@Command(name = "bench", header = "Measure hotplug cost, guest IO and many VMs at once.",
        description = "What hvspi costs against a raw client (hotplug); guest IO per IOThread mode (io); many VMs"
        + " from one JVM (scale).",
        subcommands = {BenchCommand.Hotplug.class, BenchCommand.Io.class, BenchScaleCommand.class})
final class BenchCommand {
    private BenchCommand() {}

    /** The spec with --accel applied, if given. */
    /**
     * The benchmarks drive QEMU itself beside hvspi (a raw QMP client, a guest): a configuration
     * selecting another hypervisor would have its binary run with QEMU's arguments.
     */
    static void requireQemu(LoadedConfig kata, VmSpec vmSpec, String why) {
        if (!vmSpec.hypervisorType().equals("qemu")) {
            throw new ConfigException(kata.source(), 0, 0, null, why + "; this config selects '"
                    + vmSpec.hypervisorType() + "'");
        }
    }

    static VmSpec withAccel(VmSpec spec, String accel) {
        return accel == null ? spec : spec.toBuilder().accel(Accelerator.choose(accel).accel()).build();
    }

    @Command(name = "hotplug", header = "Compare hotplug latency through hvspi with a raw QMP client.",
            description = "Hotplug latency, QMP round trip and VM start to QMP ready, through hvspi and through a raw"
            + " stdlib-only QMP client over the same kind of socket, in one run; prints each with the ratio."
            + " Both sides run a guestless QEMU (paused, no kernel) with the config's IOThread pool; their"
            + " samples alternate, each after a millisecond of quiet. RATIO is hvspi's median over the raw"
            + " median; PAIRED the median of each iteration's hvspi sample over its raw one, which what drifts"
            + " during a run moves less.")
    static final class Hotplug extends HvctlCommand {

        @Parameters(index = "0", arity = "0..1", paramLabel = "CONFIG",
                description = "A Kata configuration.toml with a [hypervisor.qemu] table (default: the bundled one).")
        Path config;

        @Option(names = "--iterations", paramLabel = "N", defaultValue = "200", converter = NumericOptions.Count.class,
                description = "Measured hotplugs and round trips per side (default: ${DEFAULT-VALUE}).")
        int iterations;

        @Option(names = "--warmup", paramLabel = "N", defaultValue = "50", converter = NumericOptions.CountOrZero.class,
                description = "Unmeasured iterations first, per side (default: ${DEFAULT-VALUE}).")
        int warmup;

        @Option(names = "--starts", paramLabel = "N", defaultValue = "10", converter = NumericOptions.Count.class,
                description = "Measured VM starts per side (default: ${DEFAULT-VALUE}).")
        int starts;

        @Option(names = "--accel", paramLabel = "auto|kvm|tcg", description = "Override the config's accel (auto: KVM where usable, else TCG).")
        String accel;

        @Override
        public Integer call() {
            if (iterations < 1 || warmup < 0 || starts < 1) {
                throw new ParameterException(spec.commandLine(),
                        "--iterations and --starts must be at least 1, --warmup at least 0");
            }
            if (accel != null && !Accelerator.KEYS.contains(accel)) {
                throw new ParameterException(spec.commandLine(), "--accel must be auto, kvm or tcg, got '" + accel + "'");
            }
            Progress progress = new Progress(err(), true);
            try (HvspiHost host = global.host()) {
                LoadedConfig kata = loadConfig(host, config, Map.of());
                VmSpec vmSpec = withAccel(kata.spec("bench-"
                        + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt())), accel);
                requireQemu(kata, vmSpec, "bench hotplug compares hvspi with a raw QMP client, which drives QEMU");
                progress.step("config " + kata.source() + ": hypervisor " + vmSpec.hypervisorType() + ", accel "
                        + vmSpec.accel() + ", IOThreads " + ConfigCommand.Check.ioThreads(vmSpec));
                BenchReport report = HotplugBench.run(host, vmSpec,
                        new HotplugBench.Options(iterations, warmup, starts), progress::step);
                print(out(), report);
            }
            return ExitCode.OK;
        }

        private void print(PrintWriter out, BenchReport report) {
            BenchReport.Machine m = report.machine();
            if (json) {
                ObjectNode doc = Json.object();
                doc.putPOJO("machine", m);
                ArrayNode metrics = doc.putArray("metrics");
                for (BenchReport.Metric metric : report.metrics()) {
                    ObjectNode n = metrics.addObject().put("name", metric.name())
                            .put("description", metric.description()).put("ratio", round(metric.ratio()))
                            .put("pairedRatio", round(metric.pairedRatio()));
                    n.putPOJO("hvspi", metric.framework());
                    n.putPOJO("raw", metric.raw());
                }
                Json.print(out, doc);
                return;
            }
            Table t = new Table("STEP", "HVSPI MEDIAN", "RAW MEDIAN", "RATIO", "PAIRED", "HVSPI P90", "RAW P90",
                    "SAMPLES");
            for (BenchReport.Metric metric : report.metrics()) {
                t.row(metric.name(), ms(metric.framework().medianMs()), ms(metric.raw().medianMs()),
                        String.format(Locale.ROOT, "%.2fx", metric.ratio()),
                        String.format(Locale.ROOT, "%.2fx", metric.pairedRatio()), ms(metric.framework().p90Ms()),
                        ms(metric.raw().p90Ms()), metric.framework().count());
            }
            t.print(out);
            out.println();
            out.printf("machine: %s, %d cores; QEMU %s, accel %s; Java %s%n", m.cpu(), m.cores(), m.qemu(), m.accel(),
                    m.java());
            out.flush();
        }

        private static String ms(double v) {
            return String.format(Locale.ROOT, "%.3f ms", v);
        }

        private static double round(double v) {
            return Math.round(v * 1000) / 1000.0;
        }
    }

    @Command(name = "io", header = "Measure guest IOPS and host CPU per IOThread mode.",
            description = "Guest IOPS per IOThread mode. For each disk count and mode: boots the"
            + " test guest (Debian kernel, busybox, fio; built into ~/.cache/hvspi/guest on first use), hotplugs null-co"
            + " disks, runs fio inside (4k random read, iodepth 32, direct, all disks at once) and samples the host"
            + " CPU time of QEMU's vCPU threads and IOThreads. Modes: main (every disk on the main loop), first"
            + " (Kata's: every disk on indep_iothread_0), least-loaded (one IOThread per disk). Writes bench-io.json"
            + " and bench-io.svg into --out. Each case boots a guest: about 7 s under TCG on 2 cores.")
    static final class Io extends HvctlCommand {
        static final String JSON_FILE = "bench-io.json";
        static final String SVG_FILE = "bench-io.svg";
        private static final int MAX_DISKS = 16;

        @Parameters(index = "0", arity = "0..1", paramLabel = "CONFIG", description = "A Kata configuration.toml"
                + " with a [hypervisor.qemu] table (default: the bundled one) for binary, accel, vCPUs and memory;"
                + " the guest, block driver and IOThread pool are the benchmark's.")
        Path config;

        @Option(names = "--disks", paramLabel = "N", split = NumericOptions.LIST_SPLIT, splitSynopsisLabel = ",",
                defaultValue = "1,2,4", converter = NumericOptions.IoDisks.class,
                description = "Disk counts, 1 to " + MAX_DISKS + " (default: ${DEFAULT-VALUE}).")
        List<Integer> disks;

        @Option(names = "--modes", paramLabel = "MODE", split = NumericOptions.LIST_SPLIT, splitSynopsisLabel = ",", defaultValue = "main,first,least-loaded",
                description = "Modes: main, first, least-loaded (default: ${DEFAULT-VALUE}).")
        List<String> modes;

        @Option(names = "--runtime", paramLabel = "SECONDS", defaultValue = "5", converter = NumericOptions.WholeSeconds.class,
                description = "fio's runtime per case (default: ${DEFAULT-VALUE}).")
        int runtime;

        @Option(names = "--accel", paramLabel = "auto|kvm|tcg", description = "Override the config's accel (auto: KVM where usable, else TCG).")
        String accel;

        @Option(names = "--out", paramLabel = "DIR", defaultValue = "target/bench-io",
                description = "Where bench-io.json and bench-io.svg go (default: ${DEFAULT-VALUE}).")
        Path out;

        @Override
        public Integer call() {
            IoBench.Options options = options();
            if (accel != null && !Accelerator.KEYS.contains(accel)) {
                throw new ParameterException(spec.commandLine(), "--accel must be auto, kvm or tcg, got '" + accel + "'");
            }
            ReportDir.prepare(spec.commandLine(), out); // before the run: a bad --out costs no run
            Progress progress = new Progress(err(), true);
            IoBenchReport report;
            try (HvspiHost host = global.host()) {
                LoadedConfig kata = loadConfig(host, config, Map.of());
                report = run(host, withAccel(kata.spec("bench-io"), accel), kata, options, progress);
            }
            print(out(), report); // the results first: a report that cannot be written is then not lost
            write(report);
            progress.step("wrote " + out.resolve(JSON_FILE) + " and " + out.resolve(SVG_FILE));
            return ExitCode.OK;
        }

        private IoBenchReport run(HvspiHost host, VmSpec vmSpec, LoadedConfig kata, IoBench.Options options,
                                  Progress progress) {
            requireQemu(kata, vmSpec, "bench io needs independent IOThreads, which only the qemu hypervisor has");
            progress.step("test guest: checking the cache (the first use builds it: about 15 s and a 70 MB"
                    + " kernel download)");
            TestGuest guest = testGuest();
            int cases = options.disks().size() * options.modes().size();
            progress.step(String.format(Locale.ROOT, "guest kernel %s; %d case%s, accel %s, fio %d s each",
                    guest.kernelVersion(), cases, cases == 1 ? "" : "s", vmSpec.accel(), runtime));
            return IoBench.run(host, vmSpec, guest, options, progress::step);
        }

        private IoBench.Options options() {
            List<Integer> counts = List.copyOf(new LinkedHashSet<>(disks));
            for (int n : counts) {
                if (n < 1 || n > MAX_DISKS) {
                    throw new ParameterException(spec.commandLine(),
                            "--disks: each count must be 1 to " + MAX_DISKS + ", got " + n);
                }
            }
            List<IoMode> parsed = new ArrayList<>();
            for (String m : new LinkedHashSet<>(modes)) {
                try {
                    parsed.add(IoMode.fromKey(m));
                } catch (IllegalArgumentException e) {
                    throw new ParameterException(spec.commandLine(), "--modes: " + e.getMessage());
                }
            }
            if (runtime < 1 || runtime > 600) {
                throw new ParameterException(spec.commandLine(), "--runtime must be 1 to 600 seconds, got " + runtime);
            }
            return new IoBench.Options(counts, parsed, runtime);
        }

        /**
         * The test guest, built on first use. Its builder lives in the source tree, found from
         * {@code hvspi.projectRoot}, the working directory, or the distribution's place in
         * {@code cli/target/hvctl}.
         */
        private static TestGuest testGuest() {
            try {
                return TestGuest.get();
            } catch (GuestException notFromHere) {
                if (!notFromHere.getMessage().startsWith("cannot find " + TestGuest.SCRIPT)) {
                    throw notFromHere;
                }
                for (Path dir = Home.dir().toAbsolutePath(); dir != null; dir = dir.getParent()) {
                    if (Files.isRegularFile(dir.resolve(TestGuest.SCRIPT))) {
                        return TestGuest.build(dir, TestGuest.defaultCache());
                    }
                }
                throw new GuestException(notFromHere.getMessage() + "; bench io needs a source checkout (run it"
                        + " through ./hvctl in the repository)");
            }
        }

        private void write(IoBenchReport report) {
            try {
                Files.createDirectories(out);
                Files.writeString(out.resolve(JSON_FILE), Json.mapper().writeValueAsString(report) + "\n");
                Files.writeString(out.resolve(SVG_FILE), IoBench.chart(report));
            } catch (IOException | UncheckedIOException e) {
                throw ReportDir.writeFailed(out, e);
            }
        }

        private void print(PrintWriter w, IoBenchReport report) {
            if (json) {
                Json.print(w, report);
                return;
            }
            Table t = new Table("DISKS", "MODE", "IOPS", "MEAN LAT", "VCPU CPU", "IOTHREAD CPU", "MAIN CPU", "WINDOW",
                    "PLACEMENT");
            for (IoBenchReport.Case c : report.cases()) {
                t.row(c.disks(), c.mode(), String.format(Locale.ROOT, "%,d", c.iops()),
                        String.format(Locale.ROOT, "%.0f us", c.latencyMicros()), cpu(c.cpu().vcpu()),
                        cpu(c.cpu().ioThreads()), cpu(c.cpu().main()), cpu(c.windowSeconds()),
                        placement(c.placement()));
            }
            t.print(w);
            w.println();
            IoBenchReport.Machine m = report.machine();
            w.printf("machine: %s, %d cores; %s, accel %s; guest %s, %d vCPU, %d MiB%n", m.cpu(), m.cores(), m.qemu(),
                    m.accel(), m.guestKernel(), m.vcpus(), m.memoryMib());
            w.println("CPU columns: seconds of host CPU (user+system) over the window, the fio command's round trip.");
            if ("tcg".equals(m.accel())) {
                w.println("Under TCG the vCPU threads emulate the guest and dominate; IOThread effects need KVM.");
            }
            w.flush();
        }

        private static String cpu(double seconds) {
            return String.format(Locale.ROOT, "%.2f s", seconds);
        }

        private static String placement(Map<String, List<String>> placement) {
            return placement.values().stream().map(t -> t.isEmpty() ? "main" : String.join("+", t)
                    .replace("indep_iothread_", "io")).collect(Collectors.joining(","));
        }
    }
}
