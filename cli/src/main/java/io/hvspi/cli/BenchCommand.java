package io.hvspi.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.cli.bench.BenchReport;
import io.hvspi.cli.bench.HotplugBench;
import io.hvspi.core.config.KataConfig;
import io.hvspi.core.plugin.PluginRegistry;
import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.spi.VmSpec;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadLocalRandom;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "bench", description = "Benchmarks: what hvspi costs against a raw client.",
        subcommands = {BenchCommand.Hotplug.class})
final class BenchCommand {
    private BenchCommand() {}

    @Command(name = "hotplug", description = {
            "Hotplug latency, QMP round trip and VM start to QMP ready, through hvspi and through a raw",
            "stdlib-only QMP client over the same kind of socket, in one run; prints each with the ratio.",
            "Both sides run a guestless QEMU (paused, no kernel) with the config's IOThread pool."})
    static final class Hotplug implements Callable<Integer> {
        @Mixin
        GlobalOptions global;

        @Parameters(index = "0", arity = "0..1", paramLabel = "CONFIG",
                description = "A Kata configuration.toml with a [hypervisor.qemu] table (default: the bundled one).")
        Path config;

        @Option(names = "--iterations", paramLabel = "N", defaultValue = "200",
                description = "Measured hotplugs and round trips per side (default: ${DEFAULT-VALUE}).")
        int iterations;

        @Option(names = "--warmup", paramLabel = "N", defaultValue = "50",
                description = "Unmeasured iterations first, per side (default: ${DEFAULT-VALUE}).")
        int warmup;

        @Option(names = "--starts", paramLabel = "N", defaultValue = "10",
                description = "Measured VM starts per side (default: ${DEFAULT-VALUE}).")
        int starts;

        @Option(names = "--accel", paramLabel = "kvm|tcg", description = "Override the config's accel.")
        String accel;

        @Option(names = "--json", description = "Print JSON.")
        boolean json;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() {
            if (iterations < 1 || warmup < 0 || starts < 1) {
                throw new ParameterException(spec.commandLine(),
                        "--iterations and --starts must be at least 1, --warmup at least 0");
            }
            if (accel != null && !accel.equals("kvm") && !accel.equals("tcg")) {
                throw new ParameterException(spec.commandLine(), "--accel must be kvm or tcg, got '" + accel + "'");
            }
            Progress progress = new Progress(spec.commandLine().getErr(), true);
            KataConfig kata = ConfigCommand.Configs.load(config, Map.of());
            VmSpec vmSpec = kata.toVmSpec("bench-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt()));
            if (accel != null) {
                vmSpec = vmSpec.withAccel(accel);
            }
            progress.step("config " + kata.source() + ": hypervisor " + vmSpec.hypervisorType() + ", accel "
                    + vmSpec.accel() + ", IOThreads " + ConfigCommand.Check.ioThreads(vmSpec));
            try (PluginRegistry registry = global.registry()) {
                DefaultHostContext host = global.host();
                BenchReport report = HotplugBench.run(registry.factory(vmSpec.hypervisorType()), vmSpec, host,
                        new HotplugBench.Options(iterations, warmup, starts), progress::step);
                print(spec.commandLine().getOut(), report);
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
                            .put("description", metric.description()).put("ratio", round(metric.ratio()));
                    n.putPOJO("hvspi", metric.framework());
                    n.putPOJO("raw", metric.raw());
                }
                Json.print(out, doc);
                return;
            }
            Table t = new Table("STEP", "HVSPI MEDIAN", "RAW MEDIAN", "RATIO", "HVSPI P90", "RAW P90", "SAMPLES");
            for (BenchReport.Metric metric : report.metrics()) {
                t.row(metric.name(), ms(metric.framework().medianMs()), ms(metric.raw().medianMs()),
                        String.format(Locale.ROOT, "%.2fx", metric.ratio()), ms(metric.framework().p90Ms()),
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
}
