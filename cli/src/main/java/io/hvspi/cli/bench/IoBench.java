package io.hvspi.cli.bench;

import io.hvspi.core.host.HvspiHost;
import io.hvspi.core.host.VmHandle;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.HostThreads.HostThread;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.guest.FioResult;
import io.hvspi.guest.GuestConsole;
import io.hvspi.guest.TestGuest;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * Guest IO per IOThread mode: for each (mode, disk count) boots the test guest on a
 * fresh VM, hotplugs null-co disks as the mode says, runs fio inside the guest on all
 * of them at once, and samples the CPU time of QEMU's threads around it. It sees the
 * plugin only through the SPI, plus the QEMU plugin's conventions for a guest: the
 * {@value #START_PAUSED} host option and the console socket {@value #CONSOLE_SOCKET}
 * in the VM's runtime directory.
 *
 * <p>The disks are null-co (reads return zeros, nothing touches the host's disk or
 * page cache), so a case measures the IO path that the mode changes (virtqueue,
 * block layer, the thread that serves it) and not the host's storage, which other
 * work on the machine would disturb.
 */
public final class IoBench {
    /** The QEMU plugin's host option that keeps a VM with a guest paused after start. */
    static final String START_PAUSED = "start-paused";
    /** The QEMU plugin's console socket, in the VM's runtime directory. */
    static final String CONSOLE_SOCKET = "console.sock";
    static final long DISK_BYTES = 1L << 30;
    /** The fio job, spelled out rather than left to the guest's defaults. */
    static final Map<String, String> FIO;

    static {
        Map<String, String> job = new LinkedHashMap<>();
        job.put("rw", "randread");
        job.put("bs", "4k");
        job.put("iodepth", "32");
        job.put("ioengine", "libaio");
        job.put("direct", "1");
        FIO = Collections.unmodifiableMap(job);
    }

    private static final Duration BOOT_TIMEOUT = Duration.ofSeconds(90);
    private static final Duration STEP = Duration.ofSeconds(30);
    /** fio loads about 60 shared libraries before it starts; under TCG that takes about a second. */
    private static final Duration FIO_SLACK = Duration.ofSeconds(60);

    /**
     * @param disks the disk counts, each a case per mode
     * @param modes the modes
     * @param runtimeSeconds fio's runtime per case
     */
    public record Options(List<Integer> disks, List<IoMode> modes, int runtimeSeconds) {
        public Options {
            disks = List.copyOf(disks);
            modes = List.copyOf(modes);
        }

        int poolSize() {
            return disks.stream().mapToInt(Integer::intValue).max().orElse(1);
        }
    }

    private final HvspiHost host;
    private final VmSpec base;
    private final TestGuest guest;
    private final Options options;
    private final Consumer<String> progress;
    private final String runId = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());

    private IoBench(HvspiHost host, VmSpec base, TestGuest guest, Options options, Consumer<String> progress) {
        this.host = host;
        this.base = base;
        this.guest = guest;
        this.options = options;
        this.progress = progress;
    }

    /**
     * Runs every case. {@code config} gives the binary, accelerator, vCPUs, memory and
     * the policy {@code main} keeps; the guest, the block driver (virtio-blk-pci, which
     * the guest sees as {@code vd*}), the pool (as large as the most disks) and the root
     * ports (at least one per disk) are the benchmark's.
     */
    public static IoBenchReport run(HvspiHost host, VmSpec config, TestGuest guest, Options options,
                                    Consumer<String> progress) {
        VmSpec base = config.toBuilder().kernel(Optional.of(guest.kernel())).initrd(Optional.of(guest.initrd()))
                .image(Optional.empty()).kernelParams(TestGuest.KERNEL_PARAMS)
                .block(new VmSpec.BlockOptions("virtio-blk-pci", config.block().aio(), config.block().cacheSet(),
                        config.block().cacheDirect(), config.block().cacheNoflush()))
                .hotplugSlots(Math.max(config.hotplugSlots(), options.poolSize())).build();
        return new IoBench(host, base, guest, options, progress).run();
    }

    /** The report as an SVG chart: grouped bars, IOPS by mode for each disk count. */
    public static String chart(IoBenchReport report) {
        return IoChart.render(report);
    }

    private IoBenchReport run() {
        // a Ctrl-C between boot and stop leaves no QEMU behind: the host API's handle stops its VM on exit
        List<IoBenchReport.Case> cases = new ArrayList<>();
        int total = options.disks().size() * options.modes().size();
        for (int disks : options.disks()) {
            for (IoMode mode : options.modes()) {
                cases.add(runCase(mode, disks, cases.size() + 1, total));
            }
        }
        IoBenchReport.Settings settings = new IoBenchReport.Settings(options.disks(),
                options.modes().stream().map(IoMode::key).toList(), options.runtimeSeconds(), options.poolSize(),
                "null-co, " + (DISK_BYTES >> 30) + " GiB, reads return zeros; virtio-blk-pci, "
                        + base.vcpus() + " queue(s) per disk (one per vCPU)",
                FIO.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(" "))
                        + ", one job per disk, all disks at once, time based");
        return new IoBenchReport(machine(), settings, cases);
    }

    private IoBenchReport.Case runCase(IoMode mode, int disks, int index, int total) {
        String label = String.format(Locale.ROOT, "case %d/%d: %s, %d disk%s", index, total, mode.key(), disks,
                disks == 1 ? "" : "s");
        String vmId = "bench-io-" + runId + "-" + index;
        VmSpec spec = base.withVmId(vmId).withIoThreads(new VmSpec.IOThreadOptions(true, options.poolSize(),
                mode.policy(base.ioThreads().policy())));
        progress.accept(label + ": booting the guest");
        long t0 = System.nanoTime();
        try (VmHandle handle = host.start(spec, Map.of(START_PAUSED, "true"))) {
            Hypervisor vm = handle.hypervisor();
            Path dir = host.runtimeRoot().resolve(vmId);
            try (GuestConsole console = GuestConsole.connect(dir.resolve(CONSOLE_SOCKET), STEP)) {
                vm.resume();
                awaitReady(console);
                double boot = (System.nanoTime() - t0) / 1e9;

                DeviceHotplug hotplug = vm.requireHotplug();
                Map<String, List<String>> placement = new LinkedHashMap<>();
                for (int i = 0; i < disks; i++) {
                    BlockDeviceSpec disk = BlockDeviceSpec.builder("disk" + i, new BlockBackend.Null(DISK_BYTES))
                            .driver("virtio-blk-pci").ioThread(mode.choice()).build();
                    BlockDevice d = hotplug.attach(disk);
                    placement.put(d.id(), d.ioThreads());
                }
                List<String> names = new ArrayList<>();
                for (String id : placement.keySet()) {
                    names.add(console.awaitDiskAdded(id, STEP).name());
                }
                progress.accept(String.format(Locale.ROOT, "%s: guest ready in %.1f s; %s; fio for %d s", label, boot,
                        describe(placement), options.runtimeSeconds()));

                HostThreads threads = vm.hostThreads();
                Map<Long, Long> before = sample(threads);
                long w0 = System.nanoTime();
                FioResult fio = console.fio(names, Duration.ofSeconds(options.runtimeSeconds()), FIO,
                        Duration.ofSeconds(options.runtimeSeconds()).plus(FIO_SLACK));
                double window = (System.nanoTime() - w0) / 1e9;
                Map<Long, Long> after = sample(threads);
                double load = ThreadCpu.loadAverage();

                IoBenchReport.Case result = result(mode, disks, fio, boot, window, load, placement, threads, before,
                        after);
                IoBenchReport.Cpu cpu = result.cpu();
                progress.accept(String.format(Locale.ROOT,
                        "%s: %,d IOPS; CPU in %.1f s: vCPU %.2f s, IOThreads %.2f s, main loop %.2f s; host load %.1f",
                        label, fio.iops(), window, cpu.vcpu(), cpu.ioThreads(), cpu.main(), load));
                return result;
            }
        }
    }

    private void awaitReady(GuestConsole console) {
        try {
            console.awaitReady(BOOT_TIMEOUT);
        } catch (VmmUnavailableException e) {
            if (e.reason() == VmmUnavailableException.Reason.TIMED_OUT && "kvm".equals(base.accel())) {
                throw new VmmUnavailableException(e.reason(), e.getMessage()
                        + " (accel kvm: where KVM cannot run a guest, use --accel tcg)", e);
            }
            throw e;
        }
    }

    private static String describe(Map<String, List<String>> placement) {
        Map<String, Long> perThread = placement.values().stream()
                .map(t -> t.isEmpty() ? "main loop" : String.join("+", t))
                .collect(Collectors.groupingBy(t -> t, LinkedHashMap::new, Collectors.counting()));
        return perThread.entrySet().stream().map(e -> e.getValue() + " on " + e.getKey())
                .collect(Collectors.joining(", "));
    }

    private static Map<Long, Long> sample(HostThreads threads) {
        Map<Long, Long> ticks = new LinkedHashMap<>();
        for (HostThread t : threads.threads()) {
            OptionalLong v = ThreadCpu.ticks(threads.pid(), t.tid());
            if (v.isPresent()) {
                ticks.put(t.tid(), v.getAsLong());
            }
        }
        return ticks;
    }

    private static IoBenchReport.Case result(IoMode mode, int disks, FioResult fio, double boot, double window,
                                             double load, Map<String, List<String>> placement, HostThreads threads,
                                             Map<Long, Long> before, Map<Long, Long> after) {
        List<IoBenchReport.ThreadUsage> usage = new ArrayList<>();
        double vcpu = 0;
        double io = 0;
        double main = 0;
        double other = 0;
        for (HostThread t : threads.threads()) {
            if (!before.containsKey(t.tid()) || !after.containsKey(t.tid())) {
                continue;
            }
            double seconds = ThreadCpu.seconds(after.get(t.tid()) - before.get(t.tid()));
            usage.add(new IoBenchReport.ThreadUsage(t.tid(), t.name(), t.role().name(), t.owner().orElse(""),
                    seconds));
            switch (t.role()) {
                case VCPU -> vcpu += seconds;
                case IOTHREAD -> io += seconds;
                case MAIN -> main += seconds;
                default -> other += seconds;
            }
        }
        return new IoBenchReport.Case(mode.key(), disks, fio.iops(), fio.bandwidthKib(), fio.readLatencyMicros(),
                fio.runtimeMillis(), round(boot), round(window), load, placement,
                new IoBenchReport.Cpu(round(vcpu), round(io), round(main), round(other)), usage);
    }

    private IoBenchReport.Machine machine() {
        return new IoBenchReport.Machine(BenchReport.cpuModel(), Runtime.getRuntime().availableProcessors(),
                qemuVersion(base.binary()), base.accel(), MachineInfo.java(), guest.kernelVersion(),
                base.vcpus(), base.memoryMib());
    }

    /** The first line of {@code qemu --version}, e.g. {@code QEMU emulator version 7.2.22 (Debian ...)}. */
    private static String qemuVersion(Path binary) {
        try {
            Process p = new ProcessBuilder(binary.toString(), "--version").redirectErrorStream(true).start();
            String line;
            try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8))) {
                line = in.readLine();
            }
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
            return line == null ? "unknown" : line.strip();
        } catch (IOException e) {
            return "unknown (" + e.getMessage() + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "unknown";
        }
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }
}
