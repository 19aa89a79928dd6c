package io.hvspi.cli.bench;

import io.hvspi.core.host.HvspiHost;
import io.hvspi.core.host.VmHandle;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.VmSpec;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
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
 * <p>Every VM this starts is stopped when it returns or throws, and by a shutdown hook
 * on Ctrl-C. It sees the plugin only through the SPI.
 */
public final class ScaleBench {
    private static final long DISK_BYTES = 1L << 30;

    /**
     * @param vms VMs to run at once
     * @param disks disks to attach to each
     * @param startThreads VMs started at once (and stopped at once)
     * @param memoryMib guest memory per VM; nothing touches it without a guest
     * @param warmup attach and detach cycles on a warm-up VM before anything is measured
     */
    public record Options(int vms, int disks, int startThreads, int memoryMib, int warmup) {}

    private final HvspiHost host;
    private final VmSpec spec;
    private final Options options;
    private final Consumer<String> progress;
    private final String idPrefix;
    private final Fleet fleet = new Fleet();
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
            fleet.stopAll();
        });
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            warmUp();
            String gc = ManagementFactory.getGarbageCollectorMXBeans().stream()
                    .map(GarbageCollectorMXBean::getName).collect(Collectors.joining(", "));
            Footprint.Jvm baseline = Footprint.jvm();
            progress.accept(String.format("JVM before: %.1f MiB heap after GC, %d platform threads",
                    baseline.heapUsedBytes() / 1048576.0, baseline.threads()));

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
            return new ScaleReport(machine(gc), settings(), start, hotplug, stop, startCpu, hotplugCpu,
                    ScaleReport.Jvm.of(baseline, started, loaded, options.vms(), options.disks(), gc),
                    ScaleReport.Vmm.of(startedVmm, loadedVmm, options.disks()));
        } catch (RuntimeException e) {
            try {
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
     * One VM, {@code warmup} attaches each followed by a detach, then stopped: loads every
     * class the run needs before the baseline, and lets the JIT compile the hot paths, so
     * that the phases measure a long-running host rather than a cold JVM.
     */
    private void warmUp() {
        progress.accept("warm-up: one VM, " + options.warmup() + " attach and detach cycles");
        VmHandle handle = host.start(spec.withVmId(idPrefix + "-warm"));
        fleet.add(handle);
        try {
            Hypervisor vm = handle.hypervisor();
            DeviceHotplug hotplug = vm.requireHotplug();
            for (int i = 0; i < options.warmup(); i++) {
                hotplug.attach(disk("warm"));
                hotplug.detach("warm");
            }
            Footprint.process(vm.hostThreads().pid());
        } finally {
            handle.close(); // stops the VM
            fleet.remove(handle);
        }
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
            awaitAll(tasks, starters.pool);
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
            long t0 = System.nanoTime();
            go.countDown();
            awaitAll(tasks, attachers.pool);
            return ScaleReport.Phase.of(samples, System.nanoTime() - t0);
        } finally {
            attachers.close();
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
                MachineInfo.memoryMib(), MachineInfo.vmmVersion(spec.binary()), Runtime.version().toString(), gc,
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

    private static void awaitAll(List<Future<?>> tasks, ExecutorService pool) {
        try {
            for (Future<?> f : tasks) {
                f.get();
            }
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
