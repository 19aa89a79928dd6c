package io.hvspi.cli;

import io.hvspi.core.config.Accelerator;
import io.hvspi.cli.bench.ScaleBench;
import io.hvspi.cli.bench.ScaleReport;
import io.hvspi.core.host.HvspiHost;
import io.hvspi.core.host.LoadedConfig;
import io.hvspi.spi.VmSpec;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

/** {@code hvctl bench scale}: many guestless VMs from one JVM; see {@link ScaleBench}. */
@Command(name = "scale", header = "Drive many guestless VMs with disks from one JVM at once.",
        description = "N guestless VMs driven from one JVM, M null-backed disks hotplugged into each: starts on a bounded pool,"
            + " then one thread per VM attaching its disks one after another, all VMs at once. Reports start and attach"
            + " latency percentiles and throughput, JVM heap and threads per VM, and VMM RSS per VM. The same attaches"
            + " are also driven by a raw QMP client on QEMUs of its own, before and after hvspi's VMs, and hvspi's"
            + " attach rate and JVM CPU per attach are reported against it. Writes"
            + " bench-scale.json and bench-scale.md into --out. Every VM is stopped at the end, on error and on Ctrl-C.")
final class BenchScaleCommand extends HvctlCommand {

    @Parameters(index = "0", arity = "0..1", paramLabel = "CONFIG",
            description = "A Kata configuration.toml (default: the bundled one).")
    Path config;

    @Option(names = "--vms", paramLabel = "N", converter = NumericOptions.Count.class, defaultValue = "32", description = "VMs (default: ${DEFAULT-VALUE}).")
    int vms;

    @Option(names = "--disks", paramLabel = "M", converter = NumericOptions.Count.class, defaultValue = "16",
            description = "Disks per VM; hotplug slots are raised to M where the config has fewer"
                    + " (default: ${DEFAULT-VALUE}).")
    int disks;

    @Option(names = "--start-threads", paramLabel = "P", converter = NumericOptions.Count.class,
            description = "VMs started (and stopped) at once (default: twice the cores).")
    Integer startThreads;

    @Option(names = "--memory", paramLabel = "MIB", converter = NumericOptions.MemoryMib.class, defaultValue = "128",
            description = "Guest memory per VM, never touched without a guest (default: ${DEFAULT-VALUE}).")
    int memoryMib;

    @Option(names = "--warmup", paramLabel = "N", converter = NumericOptions.CountOrZero.class, defaultValue = "200",
            description = "Attaches on a warm-up VM before measuring, for the JIT, up to M at a time and each"
                    + " detached again; the raw side warms up alike (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--accel", paramLabel = "auto|kvm|tcg", description = "Override the config's accel (auto: KVM where usable, else TCG).")
    String accel;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "target/bench-scale",
            description = "Where to write the report (default: ${DEFAULT-VALUE}).")
    Path out;

    @Override
    public Integer call() {
        int threads = startThreads != null ? startThreads : 2 * Runtime.getRuntime().availableProcessors();
        if (vms < 1 || disks < 1 || threads < 1 || memoryMib < 1 || warmup < 0) {
            throw new ParameterException(spec.commandLine(),
                    "--vms, --disks, --start-threads and --memory must be at least 1, --warmup at least 0");
        }
        if (accel != null && !Accelerator.KEYS.contains(accel)) {
            throw new ParameterException(spec.commandLine(), "--accel must be auto, kvm or tcg, got '" + accel + "'");
        }
        ReportDir.prepare(spec.commandLine(), out); // before the run: a bad --out costs no run
        Progress progress = new Progress(err(), true);
        ScaleReport report;
        try (HvspiHost host = global.host()) {
            LoadedConfig kata = loadConfig(host, config, Map.of());
            VmSpec vmSpec = BenchCommand.withAccel(kata.spec("scale"), accel);
            BenchCommand.requireQemu(kata, vmSpec, "bench scale compares hvspi with a raw QMP client, which drives QEMU");
            progress.step("config " + kata.source() + ": hypervisor " + vmSpec.hypervisorType() + ", accel "
                    + vmSpec.accel() + ", IOThreads " + ConfigCommand.Check.ioThreads(vmSpec));
            report = ScaleBench.run(host, vmSpec,
                    new ScaleBench.Options(vms, disks, Math.min(threads, vms), memoryMib, warmup), progress::step);
        }
        // the results first: a report that cannot be written is then not lost
        PrintWriter stdout = out();
        if (json) {
            stdout.println(report.toJson());
        } else {
            print(stdout, report);
        }
        stdout.flush();
        ReportDir.write(out, report::writeAll, json, progress, stdout);
        return ExitCode.OK;
    }

    private static void print(PrintWriter out, ScaleReport r) {
        ScaleReport.Settings s = r.settings();
        Table t = new Table("PHASE", "COUNT", "WALL", "RATE", "P50", "P90", "P99", "MAX");
        phase(t, "VM start", r.start());
        phase(t, "attach", r.hotplug());
        phase(t, "VM stop", r.stop());
        for (ScaleReport.RawRound raw : r.raw().rounds()) {
            phase(t, "raw attach (" + raw.when() + ")", raw.hotplug());
        }
        t.print(out);
        out.println();
        ScaleReport.Jvm jvm = r.jvm();
        ScaleReport.ProcessMemory vmm = r.vmm().loaded();
        out.printf(Locale.ROOT, "per VM (%d VMs x %d disks): JVM heap %.0f KiB, JVM threads %.2f, JVM open files"
                        + " %.2f; VMM RSS %.1f MiB (PSS %.1f MiB, %.1f threads)%n", s.vms(), s.disksPerVm(),
                jvm.heapPerVmBytes() / 1024.0, jvm.threadsPerVm(), jvm.openFilesPerVm(), vmm.rssMeanMib(),
                vmm.pssMeanMib(), vmm.threadsMean());
        ScaleReport.CpuUse cpu = r.hotplugCpu();
        out.printf(Locale.ROOT, "CPU during attach (core-seconds over %.2f s): JVM %.2f, VMMs %.2f, other processes"
                        + " %.2f, idle %.2f%n", cpu.wallSeconds(), cpu.jvmSeconds(), cpu.vmmSeconds(),
                cpu.otherSeconds(), cpu.idleSeconds());
        for (ScaleReport.RawRound raw : r.raw().rounds()) {
            ScaleReport.CpuUse c = raw.hotplugCpu();
            out.printf(Locale.ROOT, "CPU during raw attach (%s; core-seconds over %.2f s): JVM %.2f, VMMs %.2f, other"
                            + " processes %.2f, idle %.2f%n", raw.when(), c.wallSeconds(), c.jvmSeconds(),
                    c.vmmSeconds(), c.otherSeconds(), c.idleSeconds());
        }
        ScaleReport.VsRaw vs = r.vsRaw();
        out.printf(Locale.ROOT, "attach vs raw: throughput %.2fx (hvspi %.1f/s, raw %.1f/s); JVM CPU per attach"
                        + " hvspi %.3f ms, raw %.3f ms (hvspi adds %.3f ms); VMM CPU per attach hvspi %.3f ms, raw"
                        + " %.3f ms%n", vs.throughputRatio(), r.hotplug().perSecond(), r.raw().perSecond(),
                vs.hvspiJvmCpuPerAttachMs(), vs.rawJvmCpuPerAttachMs(), vs.hvspiJvmCostPerAttachMs(),
                vs.hvspiVmmCpuPerAttachMs(), vs.rawVmmCpuPerAttachMs());
        r.jvmCpuPerAttachByThreadMs().forEach((phase, threads) -> out.printf(Locale.ROOT,
                "JVM CPU per attach by thread, %s (ms): %s%n", phase, threads));
        out.println("concurrency: " + s.concurrency());
        ScaleReport.Machine m = r.machine();
        out.printf(Locale.ROOT, "machine: %s, %d cores, %d MiB; %s %s, accel %s; Java %s%n", m.cpu(), m.cores(),
                m.memoryMib(), s.hypervisor(), m.vmm(), s.accel(), m.java());
    }

    private static void phase(Table t, String name, ScaleReport.Phase p) {
        ScaleReport.Latency l = p.latency();
        t.row(name, p.operations(), String.format(Locale.ROOT, "%.2f s", p.wallMs() / 1000),
                String.format(Locale.ROOT, "%.1f/s", p.perSecond()), ms(l.p50Ms()), ms(l.p90Ms()), ms(l.p99Ms()),
                ms(l.maxMs()));
    }

    private static String ms(double v) {
        return String.format(Locale.ROOT, "%.2f ms", v);
    }
}
