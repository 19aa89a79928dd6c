package io.hvspi.cli.bench;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code hvctl bench scale} measured: many guestless VMs driven from one JVM,
 * their starts, their concurrent hotplugs, and what they cost the JVM and the host.
 *
 * @param machine where it ran
 * @param settings what ran, and how concurrently
 * @param start every VM's {@code create} and {@code start()}
 * @param hotplug every attach
 * @param stop every VM's {@code stop()}
 * @param startCpu where the CPU went while the VMs started
 * @param hotplugCpu where the CPU went while the disks were attached
 * @param jvm heap and threads of this JVM
 * @param vmm the VMM processes' memory and threads
 * @param raw the same attaches driven by the raw QMP client, on VMMs of its own
 * @param vsRaw hvspi's attach phase against the raw side's: throughput ratio and CPU per attach
 * @param jvmCpuPerAttachByThreadMs for each attach phase ({@code hvspi}, {@code raw before}, {@code raw after}),
 *                                  this JVM's CPU per attach in milliseconds by thread name (from
 *                                  each thread's {@code schedstat} in {@code /proc/self/task}; threads that ended
 *                                  during the phase are missing), largest first
 */
public record ScaleReport(Machine machine, Settings settings, Phase start, Phase hotplug, Phase stop,
                          CpuUse startCpu, CpuUse hotplugCpu, Jvm jvm, Vmm vmm, Raw raw, VsRaw vsRaw,
                          Map<String, Map<String, Double>> jvmCpuPerAttachByThreadMs) {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** The JSON file {@link #writeAll} writes. */
    public static final String JSON_FILE = "bench-scale.json";
    /** The Markdown summary {@link #writeAll} writes. */
    public static final String MARKDOWN_FILE = "bench-scale.md";

    /**
     * @param cpu the CPU model
     * @param cores the cores the JVM sees
     * @param memoryMib the host's memory
     * @param vmm the VMM binary's version
     * @param java the JVM's version
     * @param gc the JVM's garbage collectors
     * @param loadBefore the host's 1-minute load average when the run began: other work competing for the cores
     * @param loadAfter the same when it ended (this run's own load included)
     */
    public record Machine(String cpu, int cores, long memoryMib, String vmm, String java, String gc,
                          double loadBefore, double loadAfter) {}

    /**
     * @param hypervisor the plugin type
     * @param vms VMs run at once
     * @param disksPerVm disks attached to each
     * @param accel the accelerator
     * @param vcpus vCPUs per VM (and so queues per disk)
     * @param memoryMib guest memory per VM (mapped, never touched: there is no guest)
     * @param ioThreadsPerVm the independent IOThread pool of each VM
     * @param policy how disks are placed on the pool
     * @param hotplugSlots hotplug slots (QEMU root ports) per VM
     * @param startThreads VMs started at once
     * @param concurrency how the work was spread over threads, in words
     * @param runtimeDir where the runtime directories and state files were
     */
    public record Settings(String hypervisor, int vms, int disksPerVm, String accel, int vcpus, int memoryMib,
                           int ioThreadsPerVm, String policy, int hotplugSlots, int startThreads, String concurrency,
                           String runtimeDir) {}

    /**
     * One phase: many operations, some at once.
     *
     * @param operations how many
     * @param wallMs from the first operation's start to the last one's end
     * @param perSecond operations over wall time
     * @param latency each operation's own duration
     */
    public record Phase(int operations, double wallMs, double perSecond, Latency latency) {
        static Phase of(Samples samples, long wallNanos) {
            Latency l = samples.latency();
            return new Phase(l.count(), round(wallNanos / 1e6), round(l.count() / (wallNanos / 1e9)), l);
        }
    }

    /**
     * CPU time over one phase, in seconds of one core; the host has {@code cores * wallSeconds}.
     *
     * @param wallSeconds the phase's duration
     * @param jvmSeconds this JVM (hvspi, the benchmark, the JIT and GC)
     * @param vmmSeconds the VMM processes
     * @param otherSeconds every other process and the kernel's own work: the rest of the host's busy time
     * @param idleSeconds nobody
     */
    public record CpuUse(double wallSeconds, double jvmSeconds, double vmmSeconds, double otherSeconds,
                         double idleSeconds) {
        static CpuUse between(Footprint.Cpu before, Footprint.Cpu after) {
            long jvm = after.jvmNanos() - before.jvmNanos();
            long vmm = after.vmmNanos() - before.vmmNanos();
            long busy = after.hostBusyNanos() - before.hostBusyNanos();
            return new CpuUse(s(after.at() - before.at()), s(jvm), s(vmm), s(Math.max(0, busy - jvm - vmm)),
                    s(after.hostIdleNanos() - before.hostIdleNanos()));
        }

        private static double s(long nanos) {
            return round(nanos / 1e9);
        }
    }

    /**
     * One attach phase of the raw side: N VMMs of its own, M disks each, the same
     * concurrency as hvspi's, driven by the raw QMP client.
     *
     * @param when where in the run it was: {@code before} or {@code after} hvspi's phases
     * @param hotplug every raw attach ({@code blockdev-add}, then {@code device_add})
     * @param hotplugCpu where the CPU went meanwhile (VMMs: the raw side's)
     * @param jvmCpuPerAttachMs this JVM's CPU over the phase per attach
     * @param vmmCpuPerAttachMs the VMMs' CPU over the phase per attach
     */
    public record RawRound(String when, Phase hotplug, CpuUse hotplugCpu, double jvmCpuPerAttachMs,
                           double vmmCpuPerAttachMs) {
        static RawRound of(String when, Phase hotplug, CpuUse cpu) {
            return new RawRound(when, hotplug, cpu, perAttachMs(cpu.jvmSeconds(), hotplug.operations()),
                    perAttachMs(cpu.vmmSeconds(), hotplug.operations()));
        }
    }

    /**
     * The raw side over all its rounds.
     *
     * @param method what it did and when, in words
     * @param rounds each raw attach phase, in the order they ran
     * @param perSecond the median of the rounds' attach rates
     * @param jvmCpuPerAttachMs the median of the rounds' JVM CPU per attach
     * @param vmmCpuPerAttachMs the median of the rounds' VMM CPU per attach
     */
    public record Raw(String method, List<RawRound> rounds, double perSecond, double jvmCpuPerAttachMs,
                      double vmmCpuPerAttachMs) {
        public Raw {
            rounds = List.copyOf(rounds);
            if (rounds.isEmpty()) {
                throw new IllegalArgumentException("no raw rounds");
            }
        }

        static Raw of(String method, List<RawRound> rounds) {
            if (rounds.isEmpty()) {
                throw new IllegalArgumentException("no raw rounds");
            }
            return new Raw(method, rounds, median(rounds.stream().mapToDouble(r -> r.hotplug().perSecond()).toArray()),
                    median(rounds.stream().mapToDouble(RawRound::jvmCpuPerAttachMs).toArray()),
                    median(rounds.stream().mapToDouble(RawRound::vmmCpuPerAttachMs).toArray()));
        }
    }

    /**
     * hvspi's attach phase against the raw side's, from the same run.
     *
     * @param throughputRatio hvspi's attach rate over the raw side's (median) rate: 1 is as fast, less is slower
     * @param hvspiJvmCpuPerAttachMs this JVM's CPU per attach over hvspi's attach phase (hvspi, the benchmark,
     *                               JIT and GC)
     * @param rawJvmCpuPerAttachMs the same over the raw side's phases (median): the benchmark's, JIT's and GC's
     *                             share, and the least a client costs
     * @param hvspiJvmCostPerAttachMs the difference of the two: what hvspi adds per attach
     * @param hvspiVmmCpuPerAttachMs the VMMs' own CPU per attach on hvspi's side
     * @param rawVmmCpuPerAttachMs the same on the raw side (median)
     */
    public record VsRaw(double throughputRatio, double hvspiJvmCpuPerAttachMs, double rawJvmCpuPerAttachMs,
                        double hvspiJvmCostPerAttachMs, double hvspiVmmCpuPerAttachMs, double rawVmmCpuPerAttachMs) {
        static VsRaw of(Phase hotplug, CpuUse cpu, Raw raw) {
            double jvm = perAttachMs(cpu.jvmSeconds(), hotplug.operations());
            return new VsRaw(raw.perSecond() > 0 ? round(hotplug.perSecond() / raw.perSecond()) : 0, jvm,
                    raw.jvmCpuPerAttachMs(), round(jvm - raw.jvmCpuPerAttachMs()),
                    perAttachMs(cpu.vmmSeconds(), hotplug.operations()), raw.vmmCpuPerAttachMs());
        }
    }

    static double perAttachMs(double seconds, int operations) {
        return operations > 0 ? round(seconds * 1000 / operations) : 0;
    }

    /** The median: the middle value, or the mean of the two middle ones. */
    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return round(n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2);
    }

    /** Durations in milliseconds; percentiles by nearest rank. */
    public record Latency(int count, double p50Ms, double p90Ms, double p99Ms, double maxMs, double meanMs) {}

    /**
     * The JVM's heap and platform threads, measured after forced collections at three
     * points: before any benchmark VM (after a warm-up VM, so classes and caches are
     * loaded), with every VM started, and with every disk attached.
     *
     * @param heapBaselineBytes live heap before
     * @param heapStartedBytes live heap with the VMs started, no disks
     * @param heapLoadedBytes live heap with every disk attached
     * @param heapPerVmBytes (loaded - baseline) / vms
     * @param heapPerDiskBytes (loaded - started) / (vms * disks)
     * @param threadsBaseline live platform threads before
     * @param threadsLoaded live platform threads with every disk attached (benchmark workers gone)
     * @param threadsPerVm (loaded - baseline) / vms
     * @param threadsAdded which threads were added, by name (digits as {@code N})
     * @param openFilesBaseline file descriptors the JVM held before
     * @param openFilesLoaded file descriptors the JVM held with every disk attached
     * @param openFilesPerVm (loaded - baseline) / vms
     * @param method how heap was measured, in words
     */
    public record Jvm(long heapBaselineBytes, long heapStartedBytes, long heapLoadedBytes, long heapPerVmBytes,
                      long heapPerDiskBytes, int threadsBaseline, int threadsLoaded, double threadsPerVm,
                      Map<String, Integer> threadsAdded, int openFilesBaseline, int openFilesLoaded,
                      double openFilesPerVm, String method) {
        static Jvm of(Footprint.Jvm baseline, Footprint.Jvm started, Footprint.Jvm loaded, int vms, int disks,
                      String gc) {
            long heap = loaded.heapUsedBytes();
            return new Jvm(baseline.heapUsedBytes(), started.heapUsedBytes(), heap,
                    (heap - baseline.heapUsedBytes()) / vms, (heap - started.heapUsedBytes()) / ((long) vms * disks),
                    baseline.threads(), loaded.threads(), round((loaded.threads() - baseline.threads()) / (double) vms),
                    loaded.threadsAddedSince(baseline), baseline.openFiles(), loaded.openFiles(),
                    round((loaded.openFiles() - baseline.openFiles()) / (double) vms),
                    "Runtime.totalMemory() - freeMemory() after System.gc() repeated until a collection frees less"
                            + " than 64 KiB (" + gc + "); per VM is the difference to the baseline (taken after a"
                            + " warm-up VM, so loaded classes and caches cancel out) over the VM count");
        }
    }

    /**
     * The VMM processes, with the VMs started and again with every disk attached.
     *
     * @param started before any hotplug
     * @param loaded with every disk attached
     * @param rssPerDiskKib mean VmRSS growth per attached disk
     */
    public record Vmm(ProcessMemory started, ProcessMemory loaded, double rssPerDiskKib) {
        static Vmm of(ProcessMemory started, ProcessMemory loaded, int disks) {
            return new Vmm(started, loaded, round((loaded.rssMeanMib() - started.rssMeanMib()) * 1024 / disks));
        }
    }

    /**
     * Per-process figures over all VMM processes.
     *
     * @param rssMeanMib mean {@code VmRSS}
     * @param rssMaxMib largest {@code VmRSS}
     * @param rssTotalMib sum of {@code VmRSS} (counts shared pages once per process)
     * @param pssMeanMib mean {@code Pss} (shared pages divided among their users)
     * @param pssTotalMib sum of {@code Pss}: what the processes really occupy together
     * @param threadsMean mean thread count of one process
     */
    public record ProcessMemory(double rssMeanMib, double rssMaxMib, double rssTotalMib, double pssMeanMib,
                                double pssTotalMib, double threadsMean) {
        static ProcessMemory of(List<Footprint.Process> processes) {
            double n = processes.size();
            long rss = processes.stream().mapToLong(Footprint.Process::rssKib).sum();
            long pss = processes.stream().mapToLong(Footprint.Process::pssKib).sum();
            long rssMax = processes.stream().mapToLong(Footprint.Process::rssKib).max().orElse(0);
            int threads = processes.stream().mapToInt(Footprint.Process::threads).sum();
            return new ProcessMemory(mib(rss / n), mib(rssMax), mib(rss), mib(pss / n), mib(pss), round(threads / n));
        }

        private static double mib(double kib) {
            return round(kib / 1024);
        }
    }

    /** The report as pretty-printed JSON. */
    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The report as a short Markdown summary. */
    public String toMarkdown() {
        Settings s = settings;
        StringBuilder md = new StringBuilder();
        md.append(String.format(Locale.ROOT, "# hvctl bench scale: %d VMs x %d disks%n%n", s.vms(), s.disksPerVm()));
        md.append(String.format(Locale.ROOT, "%s, %d cores, %d MiB, load average %.1f before the run; %s %s,"
                        + " accel %s; Java %s (%s).%n%n", machine.cpu(), machine.cores(), machine.memoryMib(),
                machine.loadBefore(), s.hypervisor(), machine.vmm(), s.accel(), machine.java(), machine.gc()));
        md.append(String.format(Locale.ROOT, "Each VM: no guest (paused), %d vCPU, %d MiB, %d IOThreads (%s),"
                + " %d hotplug slots. Disks: null-co virtio-blk-pci. Runtime dir: `%s`.%n%n", s.vcpus(), s.memoryMib(),
                s.ioThreadsPerVm(), s.policy(), s.hotplugSlots(), s.runtimeDir()));
        md.append("Concurrency: ").append(s.concurrency()).append("\n\n");
        md.append("| phase | operations | wall | rate | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|---|---|\n");
        phaseRow(md, "VM start", start);
        phaseRow(md, "attach", hotplug);
        phaseRow(md, "VM stop", stop);
        for (RawRound r : raw.rounds()) {
            phaseRow(md, "raw attach (" + r.when() + ")", r.hotplug());
        }
        md.append(String.format(Locale.ROOT, "%n| CPU (core-seconds) | wall | JVM | VMMs | other processes | idle |%n"
                + "|---|---|---|---|---|---|%n"));
        cpuRow(md, "VM start", startCpu);
        cpuRow(md, "attach", hotplugCpu);
        for (RawRound r : raw.rounds()) {
            cpuRow(md, "raw attach (" + r.when() + ")", r.hotplugCpu());
        }
        md.append(String.format(Locale.ROOT, "%n| attach, hvspi vs raw | hvspi | raw | hvspi / raw |%n"
                + "|---|---|---|---|%n"));
        md.append(String.format(Locale.ROOT, "| throughput | %.1f/s | %.1f/s | **%.2fx** |%n", hotplug.perSecond(),
                raw.perSecond(), vsRaw.throughputRatio()));
        md.append(String.format(Locale.ROOT, "| JVM CPU per attach | %.3f ms | %.3f ms | %.3f ms more |%n",
                vsRaw.hvspiJvmCpuPerAttachMs(), vsRaw.rawJvmCpuPerAttachMs(), vsRaw.hvspiJvmCostPerAttachMs()));
        md.append(String.format(Locale.ROOT, "| VMM CPU per attach | %.3f ms | %.3f ms | |%n",
                vsRaw.hvspiVmmCpuPerAttachMs(), vsRaw.rawVmmCpuPerAttachMs()));
        md.append("\nRaw side: ").append(raw.method()).append('\n');
        md.append("\nJVM CPU per attach by thread (ms, threads named by the kernel, digits as N):\n\n");
        jvmCpuPerAttachByThreadMs.forEach((phase, threads) -> md.append("- ").append(phase).append(": ")
                .append(threads).append('\n'));
        md.append("\n| footprint | per VM | detail |\n|---|---|---|\n");
        md.append(String.format(Locale.ROOT, "| JVM heap | %s | %s before, %s with the VMs started, %s with every"
                        + " disk attached; %s per disk |%n", kib(jvm.heapPerVmBytes()), mib(jvm.heapBaselineBytes()),
                mib(jvm.heapStartedBytes()), mib(jvm.heapLoadedBytes()), kib(jvm.heapPerDiskBytes())));
        md.append(String.format(Locale.ROOT, "| JVM platform threads | %.2f | %d before, %d after; added: %s |%n",
                jvm.threadsPerVm(), jvm.threadsBaseline(), jvm.threadsLoaded(), jvm.threadsAdded()));
        md.append(String.format(Locale.ROOT, "| JVM open files | %.2f | %d before, %d after |%n",
                jvm.openFilesPerVm(), jvm.openFilesBaseline(), jvm.openFilesLoaded()));
        ProcessMemory l = vmm.loaded();
        md.append(String.format(Locale.ROOT, "| VMM RSS | %.1f MiB | max %.1f MiB, total %.0f MiB; %.1f MiB per VM"
                        + " before hotplug; %.0f KiB per disk |%n", l.rssMeanMib(), l.rssMaxMib(), l.rssTotalMib(),
                vmm.started().rssMeanMib(), vmm.rssPerDiskKib()));
        md.append(String.format(Locale.ROOT, "| VMM PSS | %.1f MiB | total %.0f MiB (shared pages counted once) |%n",
                l.pssMeanMib(), l.pssTotalMib()));
        md.append(String.format(Locale.ROOT, "| VMM threads | %.1f | %.1f before hotplug |%n", l.threadsMean(),
                vmm.started().threadsMean()));
        md.append("\nJVM heap: ").append(jvm.method()).append('\n');
        return md.toString();
    }

    private static void phaseRow(StringBuilder md, String name, Phase p) {
        Latency l = p.latency();
        md.append(String.format(Locale.ROOT, "| %s | %d | %.2f s | %.1f/s | %.2f ms | %.2f ms | %.2f ms | %.2f ms |%n",
                name, p.operations(), p.wallMs() / 1000, p.perSecond(), l.p50Ms(), l.p90Ms(), l.p99Ms(), l.maxMs()));
    }

    private static void cpuRow(StringBuilder md, String name, CpuUse c) {
        md.append(String.format(Locale.ROOT, "| %s | %.2f s | %.2f | %.2f | %.2f | %.2f |%n", name, c.wallSeconds(),
                c.jvmSeconds(), c.vmmSeconds(), c.otherSeconds(), c.idleSeconds()));
    }

    /** Writes {@value #JSON_FILE} and {@value #MARKDOWN_FILE} into {@code dir} (made if missing); returns them. */
    public List<Path> writeAll(Path dir) {
        try {
            Files.createDirectories(dir);
            Path json = dir.resolve(JSON_FILE);
            Path md = dir.resolve(MARKDOWN_FILE);
            Files.writeString(json, toJson() + "\n", StandardCharsets.UTF_8);
            Files.writeString(md, toMarkdown(), StandardCharsets.UTF_8);
            return List.of(json, md);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the report into " + dir + ": " + e.getMessage(), e);
        }
    }

    static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    private static String kib(long bytes) {
        return String.format(Locale.ROOT, "%.0f KiB", bytes / 1024.0);
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }
}
