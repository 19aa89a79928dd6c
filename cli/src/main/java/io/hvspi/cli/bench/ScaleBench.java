package io.hvspi.cli.bench;

import io.hvspi.core.host.HvspiHost;
import io.hvspi.core.host.VmHandle;
import io.hvspi.core.state.RuntimeDirs;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.VmSpec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * Many guestless VMs driven from one JVM: N VMs started by a bounded pool, then M
 * null-backed disks hotplugged into each, all VMs at once, then every VM stopped.
 * It reports start and attach latency percentiles and throughput, and what the VMs
 * cost: JVM heap and platform threads per VM, VMM resident memory per VM.
 *
 * <p>Concurrency: starts run on a pool of {@code startThreads} platform threads, one
 * VM per task. Hotplug runs one platform thread per VM, all released together by a
 * latch; each attaches its own VM's disks one after another, so N attaches are in
 * flight at any time. That is how a host runs many sandboxes: hotplug is sequential
 * within a sandbox (Kata serialises it, and QEMU's main loop runs QMP commands one at
 * a time) and parallel across them.
 *
 * <p>The raw side: the same N VMs x M disks, with the same concurrency, driven by the
 * raw QMP client ({@link RawQmp}: {@code blockdev-add}, then {@code device_add} with the
 * arguments the QEMU plugin sends) on guestless QEMUs of its own, built from the same
 * spec ({@link RawQemu}). It runs twice, once before hvspi's VMs start and once after
 * they stopped, so that the hvspi phase sits between its two samples in time and a
 * drift of the machine's load hits both sides alike; its figures are the median of the
 * two. Only one side's VMMs run at a time.
 *
 * <p>Every VM this starts is stopped when it returns or throws, and by a shutdown hook
 * on Ctrl-C; so is every raw QEMU. It sees the plugin only through the SPI.
 */
public final class ScaleBench {
    private static final long DISK_BYTES = 1L << 30;

    /**
     * @param vms VMs to run at once
     * @param disks disks to attach to each
     * @param startThreads VMs started at once (and stopped at once)
     * @param memoryMib guest memory per VM; nothing touches it without a guest
     * @param warmup attaches on a warm-up VM before anything is measured, up to {@code disks} at a time, each
     *               detached again
     */
    public record Options(int vms, int disks, int startThreads, int memoryMib, int warmup) {}

    private final HvspiHost host;
    private final VmSpec spec;
    private final Options options;
    private final Consumer<String> progress;
    private final String idPrefix;
    /** The IOThread pool's ids, for the raw side. */
    private final List<String> pool;
    private final Fleet fleet = new Fleet();
    private final RawFleet rawFleet = new RawFleet();
    /** Each attach phase's JVM CPU per attach by thread name, in the order the phases ran. */
    private final Map<String, Map<String, Double>> cpuByThread = new LinkedHashMap<>();
    /** The host's load when the run began, before this run added to it. */
    private final double loadBefore = ThreadCpu.loadAverage();

    private ScaleBench(HvspiHost host, VmSpec spec, Options options, Consumer<String> progress) {
        this.spec = spec;
        this.host = host;
        this.options = options;
        this.progress = message -> {
            synchronized (this) {
                progress.accept(message);
            }
        };
        this.idPrefix = "scale-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
        this.pool = RawQemu.poolIds(spec);
    }

    /**
     * Runs the benchmark. {@code config} gives the binary, accelerator, vCPUs, the
     * IOThread pool and policy; the guest is dropped, memory is {@code options.memoryMib()}
     * and each VM gets at least {@code options.disks()} hotplug slots.
     */
    public static ScaleReport run(HvspiHost host, VmSpec config, Options options, Consumer<String> progress) {
        VmSpec guestless = config.toBuilder().guestless().memoryMib(options.memoryMib())
                .hotplugSlots(Math.max(config.hotplugSlots(), options.disks())).build();
        return new ScaleBench(host, guestless, options, progress).run();
    }

    private ScaleReport run() {
        Thread hook = Thread.ofPlatform().name("bench-scale-cleanup").unstarted(() -> {
            if (fleet.size() > 0) {
                progress.accept("interrupted: stopping " + fleet.size() + " VM(s)");
            }
            rawFleet.close();
            fleet.stopAll();
        });
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            warmUp();
            rawWarmUp();
            String gc = ManagementFactory.getGarbageCollectorMXBeans().stream()
                    .map(GarbageCollectorMXBean::getName).collect(Collectors.joining(", "));
            // before the raw side's first round: its QEMUs leave idle JDK process reapers behind for a
            // minute, which hvspi's VMs then reuse, and a baseline taken after would hide them
            Footprint.Jvm baseline = Footprint.jvm();
            progress.accept(String.format("JVM before: %.1f MiB heap after GC, %d platform threads",
                    baseline.heapUsedBytes() / 1048576.0, baseline.threads()));
            List<ScaleReport.RawRound> rawRounds = new ArrayList<>();
            rawRounds.add(rawRound("before"));
            System.gc(); // the raw side's garbage is not hvspi's to collect

            Hypervisor[] vms = new Hypervisor[options.vms()];
            Footprint.Cpu cpu0 = Footprint.cpu();
            ScaleReport.Phase start = startAll(vms);
            long[] pids = new long[vms.length];
            for (int i = 0; i < vms.length; i++) {
                pids[i] = vms[i].hostThreads().pid();
            }
            ScaleReport.CpuUse startCpu = ScaleReport.CpuUse.between(cpu0, Footprint.cpu(pids));
            Footprint.Jvm started = Footprint.jvm();
            ScaleReport.ProcessMemory startedVmm = ScaleReport.ProcessMemory.of(processes(pids));

            Footprint.Cpu cpu1 = Footprint.cpu(pids);
            ScaleReport.Phase hotplug = attachAll(vms);
            ScaleReport.CpuUse hotplugCpu = ScaleReport.CpuUse.between(cpu1, Footprint.cpu(pids));
            Footprint.Jvm loaded = Footprint.jvm();
            ScaleReport.ProcessMemory loadedVmm = ScaleReport.ProcessMemory.of(processes(pids));
            for (Hypervisor vm : vms) {
                int attached = vm.requireHotplug().list().size();
                if (attached != options.disks()) {
                    throw new IllegalStateException("VM '" + vm.vmId() + "' lists " + attached + " devices after "
                            + options.disks() + " attaches");
                }
            }
            progress.accept(String.format("with %d VMs x %d disks: %.1f MiB heap after GC, %d platform threads;"
                            + " VMM RSS %.1f MiB per VM", vms.length, options.disks(),
                    loaded.heapUsedBytes() / 1048576.0, loaded.threads(), loadedVmm.rssMeanMib()));

            progress.accept("stopping " + vms.length + " VMs, " + options.startThreads() + " at a time");
            ScaleReport.Phase stop = fleet.stopAll().orElseThrow();
            rawRounds.add(rawRound("after"));
            ScaleReport.Raw raw = ScaleReport.Raw.of(rawMethod(), rawRounds);
            return new ScaleReport(machine(gc), settings(), start, hotplug, stop, startCpu, hotplugCpu,
                    ScaleReport.Jvm.of(baseline, started, loaded, options.vms(), options.disks(), gc),
                    ScaleReport.Vmm.of(startedVmm, loadedVmm, options.disks()), raw,
                    ScaleReport.VsRaw.of(hotplug, hotplugCpu, raw), cpuByThread);
        } catch (RuntimeException e) {
            try {
                rawFleet.close();
                fleet.stopAll();
            } catch (RuntimeException stopFailed) {
                e.addSuppressed(stopFailed);
            }
            throw e;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // the JVM is shutting down: the hook runs (and finds nothing left to stop)
            }
        }
    }

    /**
     * One VM, {@code warmup} attaches, M at a time each time followed by their detaches, then stopped: loads every
     * class the run needs before the baseline, and lets the JIT compile the hot paths, so
     * that the phases measure a long-running host rather than a cold JVM.
     */
    private void warmUp() {
        progress.accept("warm-up: one VM, " + options.warmup() + " attaches, up to " + options.disks()
                + " at a time, each detached");
        VmHandle handle = host.start(spec.withVmId(idPrefix + "-warm"));
        fleet.add(handle);
        try {
            Hypervisor vm = handle.hypervisor();
            DeviceHotplug hotplug = vm.requireHotplug();
            // up to M disks at once, then all detached: the JIT sees the state sizes the measured
            // phase has (a VM of 1 to M devices), not only a VM with one
            int attached = 0;
            for (int i = 0; i < options.warmup(); i++) {
                hotplug.attach(disk("warm" + attached++));
                if (attached == options.disks() || i == options.warmup() - 1) {
                    while (attached > 0) {
                        hotplug.detach("warm" + --attached);
                    }
                }
            }
            Footprint.process(vm.hostThreads().pid());
        } finally {
            handle.close(); // stops the VM
            fleet.remove(handle);
        }
    }

    /** The raw side's warm-up, as hvspi's: one raw QEMU, {@code warmup} attach and detach cycles. */
    private void rawWarmUp() {
        progress.accept("raw side warm-up: one QEMU, " + options.warmup() + " attaches, up to " + options.disks()
                + " at a time, each detached");
        RawVm vm = rawFleet.spawn(idPrefix + "-raw-warm");
        try {
            // as hvspi's warm-up: up to M disks at once, then all detached
            int attached = 0;
            for (int i = 0; i < options.warmup(); i++) {
                int d = attached++;
                vm.qmp().execute(RawQemu.blockdevAdd(spec.block(), "raw-node-warm" + d, DISK_BYTES));
                vm.qmp().execute(RawQemu.virtioBlkPci("warm" + d, "raw-node-warm" + d, "rp" + d,
                        pool.isEmpty() ? null : pool.get(d % pool.size()), spec.vcpus()));
                if (attached == options.disks() || i == options.warmup() - 1) {
                    while (attached > 0) {
                        String id = "warm" + --attached;
                        vm.qmp().execute("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"" + id + "\"}}");
                        vm.qmp().execute("{\"execute\":\"system_reset\"}");
                        vm.qmp().awaitLine("\"device\": \"" + id + "\"");
                        vm.qmp().execute("{\"execute\":\"blockdev-del\",\"arguments\":{\"node-name\":\"raw-node-warm"
                                + attached + "\"}}");
                    }
                }
            }
        } finally {
            rawFleet.killAll();
        }
    }

    /**
     * One round of the raw side: N raw QEMUs spawned {@code startThreads} at a time (not
     * measured), then M attaches each with hvspi's concurrency, measured as hvspi's attach
     * phase is, then every raw QEMU killed.
     */
    private ScaleReport.RawRound rawRound(String when) {
        int n = options.vms();
        progress.accept("raw side (" + when + " hvspi): spawning " + n + " QEMUs, " + options.startThreads()
                + " at a time");
        RawVm[] vms = new RawVm[n];
        try {
            Workers spawners = new Workers(options.startThreads(), "bench-raw-start-");
            try {
                List<Future<?>> tasks = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    int index = i;
                    tasks.add(spawners.pool.submit(() -> {
                        vms[index] = rawFleet.spawn(idPrefix + "-raw" + when.charAt(0) + index);
                        return null;
                    }));
                }
                awaitAll(tasks, spawners.pool, bound(3 * waves(n)), "the raw side's spawns");
            } finally {
                spawners.close();
            }
            long[] pids = new long[n];
            for (int i = 0; i < n; i++) {
                pids[i] = vms[i].process().pid();
            }
            Footprint.Cpu cpu0 = Footprint.cpu(pids);
            ScaleReport.Phase hotplug = rawAttachAll(vms, when);
            ScaleReport.CpuUse cpu = ScaleReport.CpuUse.between(cpu0, Footprint.cpu(pids));
            return ScaleReport.RawRound.of(when, hotplug, cpu);
        } finally {
            rawFleet.killAll();
        }
    }

    /** hvspi's attach phase, by the raw client: one thread per raw QEMU, released together. */
    private ScaleReport.Phase rawAttachAll(RawVm[] vms, String when) {
        int total = vms.length * options.disks();
        progress.accept("raw side (" + when + " hvspi): " + options.disks() + " disks to each QEMU, " + vms.length
                + " threads, one per QEMU, " + total + " attaches");
        Samples samples = new Samples();
        AtomicInteger done = new AtomicInteger();
        // as hvspi's side: every thread started and waiting before the clock starts
        CountDownLatch ready = new CountDownLatch(vms.length);
        CountDownLatch go = new CountDownLatch(1);
        Workers attachers = new Workers(vms.length, "bench-raw-hotplug-");
        try {
            List<Future<?>> tasks = new ArrayList<>();
            for (RawVm vm : vms) {
                tasks.add(attachers.pool.submit((Callable<Void>) () -> {
                    ready.countDown();
                    go.await();
                    for (int d = 0; d < options.disks() && !Thread.currentThread().isInterrupted(); d++) {
                        // least-loaded on an empty pool, one attach at a time, is round-robin: what hvspi placed
                        String ioThread = pool.isEmpty() ? null : pool.get(d % pool.size());
                        String node = RawQemu.nodeName(d);
                        long s = System.nanoTime();
                        vm.qmp().execute(RawQemu.blockdevAdd(spec.block(), node, DISK_BYTES));
                        vm.qmp().execute(RawQemu.virtioBlkPci("disk" + d, node, "rp" + d, ioThread, spec.vcpus()));
                        samples.add(System.nanoTime() - s);
                        tick(done.incrementAndGet(), total, "raw side: attached", "disks");
                    }
                    return null;
                }));
            }
            await(ready);
            Map<String, Long> threads0 = ThreadCpu.jvmByName();
            long t0 = System.nanoTime();
            go.countDown();
            awaitAll(tasks, attachers.pool, bound(2 * options.disks()), "the raw side's attaches");
            long wall = System.nanoTime() - t0;
            cpuByThread.put("raw " + when, ThreadCpu.perOperationMs(threads0, ThreadCpu.jvmByName(), total));
            return ScaleReport.Phase.of(samples, wall);
        } finally {
            attachers.close();
        }
    }

    private String rawMethod() {
        return String.format("the same %d VMs x %d disks driven by a bare QMP client (JDK only: one line out, lines"
                + " in until the reply, in the calling thread), blockdev-add then device_add with the arguments the"
                + " QEMU plugin sends (null-co, virtio-blk-pci on root port rpD, IOThread D mod pool size, %d"
                + " queues), one platform thread per VM released together, each VM's disks one after another; on"
                + " %d guestless QEMUs of its own spawned from the same spec (no serial console, no probing), run"
                + " once before hvspi's VMs start and once after they stopped, after a warm-up as hvspi's (%d attaches"
                + " on one QEMU, up to M at a time, each detached); figures are the median of the two rounds",
                options.vms(), options.disks(), spec.vcpus(), options.vms(), options.warmup());
    }

    private ScaleReport.Phase startAll(Hypervisor[] vms) {
        int n = vms.length;
        progress.accept("starting " + n + " VMs, " + options.startThreads() + " at a time");
        Samples samples = new Samples();
        AtomicInteger done = new AtomicInteger();
        Workers starters = new Workers(options.startThreads(), "bench-start-");
        try {
            long t0 = System.nanoTime();
            List<Future<?>> tasks = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int index = i;
                tasks.add(starters.pool.submit(() -> {
                    long s = System.nanoTime();
                    VmHandle handle = host.start(spec.withVmId(idPrefix + "-" + index));
                    samples.add(System.nanoTime() - s);
                    fleet.add(handle);
                    vms[index] = handle.hypervisor();
                    tick(done.incrementAndGet(), n, "started", "VMs");
                    return null;
                }));
            }
            awaitAll(tasks, starters.pool, bound(6 * waves(n)), "the VM starts");
            return ScaleReport.Phase.of(samples, System.nanoTime() - t0);
        } finally {
            starters.close();
        }
    }

    private ScaleReport.Phase attachAll(Hypervisor[] vms) {
        int total = vms.length * options.disks();
        progress.accept("attaching " + options.disks() + " disks to each VM: " + vms.length + " threads, one per VM,"
                + " " + total + " attaches");
        Samples samples = new Samples();
        AtomicInteger done = new AtomicInteger();
        CountDownLatch ready = new CountDownLatch(vms.length);
        CountDownLatch go = new CountDownLatch(1);
        Workers attachers = new Workers(vms.length, "bench-hotplug-");
        try {
            List<Future<?>> tasks = new ArrayList<>();
            for (Hypervisor vm : vms) {
                tasks.add(attachers.pool.submit((Callable<Void>) () -> {
                    DeviceHotplug hotplug;
                    try {
                        hotplug = vm.requireHotplug();
                    } finally {
                        ready.countDown();
                    }
                    go.await();
                    // hvspi's calls finish what they sent even when interrupted; the loop stops here
                    for (int d = 0; d < options.disks() && !Thread.currentThread().isInterrupted(); d++) {
                        long s = System.nanoTime();
                        hotplug.attach(disk("disk" + d));
                        samples.add(System.nanoTime() - s);
                        tick(done.incrementAndGet(), total, "attached", "disks");
                    }
                    return null;
                }));
            }
            await(ready);
            Map<String, Long> threads0 = ThreadCpu.jvmByName();
            long t0 = System.nanoTime();
            go.countDown();
            awaitAll(tasks, attachers.pool, bound(3 * options.disks()), "the attaches");
            long wall = System.nanoTime() - t0;
            // before the pool ends: an ended thread's CPU time is gone from /proc
            cpuByThread.put("hvspi", ThreadCpu.perOperationMs(threads0, ThreadCpu.jvmByName(), total));
            return ScaleReport.Phase.of(samples, wall);
        } finally {
            attachers.close();
        }
    }

    /** One raw QEMU with its connected client. */
    private record RawVm(Process process, Path dir, RawQmp qmp) {}

    /**
     * The raw QEMUs alive, so that each is killed and its directory removed: at the end of
     * its round, on an error, or from the shutdown hook. Once closed, it spawns nothing.
     */
    private final class RawFleet {
        private final List<Process> processes = new ArrayList<>();
        private final List<Path> dirs = new ArrayList<>();
        private final List<RawQmp> clients = new ArrayList<>();
        private boolean closed;

        RawVm spawn(String name) {
            Path dir = host.runtimeRoot().resolve(name);
            Process process;
            synchronized (this) {
                if (closed) {
                    throw new HvspiException("the benchmark is stopping");
                }
                try {
                    Files.createDirectories(dir.getParent());
                    Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(
                            PosixFilePermissions.fromString("rwx------")));
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot create " + dir + ": " + e.getMessage(), e);
                }
                dirs.add(dir);
                process = RawQemu.spawn(spec, dir, name);
                processes.add(process);
            }
            RawQmp qmp = RawQmp.connect(dir.resolve("qmp.sock"), host.commandTimeout());
            synchronized (this) {
                clients.add(qmp);
                if (closed) {
                    qmp.close();
                    throw new HvspiException("the benchmark is stopping");
                }
            }
            return new RawVm(process, dir, qmp);
        }

        /** Kills every raw QEMU alive and removes its directory; later spawns still work. */
        synchronized void killAll() {
            clients.forEach(RawQmp::close);
            processes.forEach(Process::destroyForcibly);
            for (Process p : processes) {
                try {
                    p.waitFor(host.commandTimeout().toMillis(), TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            dirs.forEach(RuntimeDirs::deleteTree);
            clients.clear();
            processes.clear();
            dirs.clear();
        }

        /** {@link #killAll()}, and no more spawns. */
        synchronized void close() {
            closed = true;
            killAll();
        }
    }

    private static BlockDeviceSpec disk(String id) {
        return BlockDeviceSpec.builder(id, new BlockBackend.Null(DISK_BYTES)).build();
    }

    /** A progress line at each quarter. */
    private void tick(int done, int total, String verb, String what) {
        int quarter = Math.max(1, total / 4);
        if (done % quarter == 0 || done == total) {
            progress.accept(verb + " " + done + "/" + total + " " + what);
        }
    }

    private static List<Footprint.Process> processes(long[] pids) {
        List<Footprint.Process> out = new ArrayList<>();
        for (long pid : pids) {
            out.add(Footprint.process(pid));
        }
        return out;
    }

    private ScaleReport.Machine machine(String gc) {
        return new ScaleReport.Machine(BenchReport.cpuModel(), Runtime.getRuntime().availableProcessors(),
                MachineInfo.memoryMib(), MachineInfo.vmmVersion(spec.binary()), MachineInfo.java(), gc,
                loadBefore, ThreadCpu.loadAverage());
    }

    private ScaleReport.Settings settings() {
        int n = options.vms();
        String concurrency = String.format("starts on a pool of %d platform threads (one VM per task); hotplug on %d"
                        + " platform threads, one per VM, released together, each attaching its VM's %d disks one"
                        + " after another (%d attaches in flight); stops on a pool of %d threads",
                options.startThreads(), n, options.disks(), n, options.startThreads());
        return new ScaleReport.Settings(spec.hypervisorType(), n, options.disks(), spec.accel(), spec.vcpus(),
                spec.memoryMib(), spec.ioThreads().poolSize(), spec.ioThreads().policy().key(), spec.hotplugSlots(),
                options.startThreads(), concurrency, host.runtimeRoot().toString());
    }

    /** Rounds of a pool of {@code startThreads} for {@code tasks} tasks. */
    private int waves(int tasks) {
        return (tasks + options.startThreads() - 1) / options.startThreads();
    }

    /**
     * How long a phase of {@code steps} operations one after another may take: each is bounded by the
     * host's command timeout (hvspi's QMP calls and the raw client's alike), so twice that each, and
     * one more. A backstop: a phase that passes it has a call that ignored its own deadline.
     */
    private Duration bound(int steps) {
        return host.commandTimeout().multipliedBy(2L * steps + 1);
    }

    /**
     * Waits for every task until {@code bound} has passed since the call; a task that fails, or one
     * still running then, stops the pool and fails the phase ({@code what}), in one line.
     */
    static void awaitAll(List<Future<?>> tasks, ExecutorService pool, Duration bound, String what) {
        long deadline = System.nanoTime() + bound.toNanos();
        try {
            for (Future<?> f : tasks) {
                f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            }
        } catch (TimeoutException e) {
            pool.shutdownNow();
            throw new HvspiException("benchmark: " + what + " did not finish within " + bound.toSeconds()
                    + " s (a VMM that stopped answering?)", e);
        } catch (ExecutionException e) {
            pool.shutdownNow();
            throw e.getCause() instanceof RuntimeException r ? r
                    : new HvspiException("benchmark task failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            pool.shutdownNow();
            Thread.currentThread().interrupt();
            throw new HvspiException("interrupted", e);
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HvspiException("interrupted", e);
        }
    }

    /**
     * A fixed pool of platform threads that {@link #close()} shuts down and joins: a pool
     * reports itself terminated a moment before its threads are gone, and a thread still
     * alive would be counted as a VM's.
     */
    private static final class Workers implements AutoCloseable {
        private final List<Thread> threads = new CopyOnWriteArrayList<>();
        final ExecutorService pool;

        Workers(int size, String name) {
            ThreadFactory platform = Thread.ofPlatform().name(name, 0).factory();
            pool = Executors.newFixedThreadPool(size, task -> {
                Thread t = platform.newThread(task);
                threads.add(t);
                return t;
            });
        }

        @Override
        public void close() {
            pool.shutdownNow();
            try {
                for (Thread t : threads) {
                    if (!t.join(Duration.ofMinutes(1))) {
                        throw new HvspiException("benchmark thread " + t.getName() + " did not end within a minute");
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Every VM this run created, so that each is stopped exactly once: at the end of
     * the run, on an error, or from the shutdown hook, whichever comes first.
     */
    private final class Fleet {
        private final List<VmHandle> vms = new ArrayList<>();
        private boolean closed;

        synchronized void add(VmHandle vm) {
            if (closed) {
                vm.close();
                throw new HvspiException("the benchmark is stopping; VM '" + vm.vmId() + "' stopped");
            }
            vms.add(vm);
        }

        synchronized void remove(VmHandle vm) {
            vms.remove(vm);
        }

        synchronized int size() {
            return vms.size();
        }

        /**
         * Stops every VM, {@code startThreads} at a time, the first time it is called;
         * later calls wait for that one and return empty. Every VM is tried even when
         * some fail; the first failure is thrown.
         */
        synchronized Optional<ScaleReport.Phase> stopAll() {
            if (closed) {
                return Optional.empty();
            }
            closed = true;
            if (vms.isEmpty()) {
                return Optional.empty();
            }
            Samples samples = new Samples();
            AtomicReferenceArray<RuntimeException> failures = new AtomicReferenceArray<>(vms.size());
            ExecutorService pool = Executors.newFixedThreadPool(Math.min(options.startThreads(), vms.size()),
                    Thread.ofPlatform().name("bench-stop-", 0).factory());
            long t0 = System.nanoTime();
            try {
                for (int i = 0; i < vms.size(); i++) {
                    VmHandle vm = vms.get(i);
                    int index = i;
                    pool.execute(() -> {
                        long s = System.nanoTime();
                        try {
                            vm.stop();
                            samples.add(System.nanoTime() - s);
                        } catch (RuntimeException e) {
                            failures.set(index, e);
                        } finally {
                            vm.close();
                        }
                    });
                }
            } finally {
                pool.shutdown();
                try {
                    pool.awaitTermination(Long.MAX_VALUE, TimeUnit.NANOSECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            long wall = System.nanoTime() - t0;
            vms.clear();
            for (int i = 0; i < failures.length(); i++) {
                if (failures.get(i) != null) {
                    throw failures.get(i);
                }
            }
            return Optional.of(ScaleReport.Phase.of(samples, wall));
        }
    }
}
