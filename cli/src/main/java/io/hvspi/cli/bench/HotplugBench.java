package io.hvspi.cli.bench;

import io.hvspi.core.host.ClosedOnExit;
import io.hvspi.core.host.HvspiHost;
import io.hvspi.core.host.VmHandle;
import io.hvspi.core.state.RuntimeDirs;
import io.hvspi.core.state.VmLock;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.NetBackend;
import io.hvspi.spi.NetDeviceSpec;
import io.hvspi.spi.NetworkHotplug;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmSpec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Prices hvspi against a raw QMP client, in one run: hotplug of a null-backed
 * virtio-blk-pci disk onto an IOThread, of a virtio-net-pci NIC on a tap (where this
 * host can make taps), a QMP round trip, and VM start to QMP ready. Both sides run a guestless QEMU (paused, no kernel) built from the same
 * settings, and their samples alternate so that machine noise hits both alike.
 * It sees the plugin only through the SPI, as any host does.
 */
public final class HotplugBench {
    private static final Pattern QEMU_VERSION = Pattern.compile(
            "\"micro\":\\s*(\\d+),\\s*\"minor\":\\s*(\\d+),\\s*\"major\":\\s*(\\d+)\\},\\s*\"package\":\\s*\"([^\"]*)\"");
    private static final Pattern THREAD_ID = Pattern.compile("\"thread-id\":\\s*(\\d+)");
    private static final long DISK_BYTES = 1L << 30;
    /** The pause before each sample; see {@link #quiet()}. */
    private static final long QUIET_NANOS = 1_000_000;
    /** Both sides attach devices of these ids, each to its own QEMU: commands of the same length. */
    private static final String DISK_ID = "bench-disk";
    private static final String NIC_ID = "bench-nic";

    /**
     * @param iterations measured hotplug and round-trip samples per side
     * @param warmup unmeasured samples before them (JIT, caches)
     * @param starts measured VM starts per side
     */
    public record Options(int iterations, int warmup, int starts) {}

    private final HvspiHost host;
    private final VmSpec spec;
    private final Options options;
    private final Consumer<String> progress;
    private final Duration timeout;
    /** What a signal must not leave behind (see {@link #run()}): raw QEMUs alive, by their directory. */
    private final Map<Process, Path> rawAlive = new HashMap<>();
    /** The in-memory VM, once created; the host's own VMs are stopped on exit by the host. */
    private volatile Hypervisor unstoredVm;
    private boolean exiting;

    private HotplugBench(HvspiHost host, VmSpec spec, Options options, Consumer<String> progress) {
        this.spec = spec;
        this.host = host;
        this.options = options;
        this.progress = progress;
        this.timeout = host.commandTimeout();
    }

    /**
     * Runs the benchmark. {@code config} gives binary, accelerator, vCPUs, memory,
     * the IOThread pool and the root ports; the guest is dropped (both sides run
     * without one).
     */
    public static BenchReport run(HvspiHost host, VmSpec config, Options options, Consumer<String> progress) {
        VmSpec guestless = config.toBuilder().guestless().hotplugSlots(Math.max(1, config.hotplugSlots())).build();
        return new HotplugBench(host, guestless, options, progress).run();
    }

    /**
     * Measures, with a shutdown hook for what the host does not stop on SIGTERM or Ctrl-C:
     * the in-memory VM bypasses the host API, and the raw QEMUs are the benchmark's own.
     */
    private BenchReport run() {
        Thread hook = Thread.ofPlatform().name("bench-hotplug-cleanup").unstarted(this::cleanUpOnExit);
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            return measure();
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // the JVM is shutting down: the hook runs (and finds nothing left to stop)
            }
        }
    }

    private void cleanUpOnExit() {
        Hypervisor unstored = unstoredVm;
        if (unstored != null) {
            try {
                unstored.stop();
            } catch (RuntimeException e) {
                progress.accept("could not stop " + unstored.vmId() + ": " + e.getMessage());
            }
        }
        synchronized (rawAlive) {
            exiting = true;
            rawAlive.forEach((qemu, dir) -> {
                qemu.destroyForcibly();
                waitFor(qemu);
                RuntimeDirs.deleteTree(dir);
            });
            rawAlive.clear();
        }
    }

    private BenchReport measure() {
        Samples fwStart = new Samples();
        Samples rawStart = new Samples();
        progress.accept("VM start to QMP ready: " + options.starts() + " starts per side");
        for (int i = -1; i < options.starts(); i++) {
            // one unmeasured start per side first: the first spawn pays for cold caches
            long fw = frameworkStart(spec.vmId() + "-s" + (i + 1));
            long raw = rawStart(spec.vmId() + "-rs" + (i + 1));
            if (i >= 0) {
                fwStart.add(fw);
                rawStart.add(raw);
            }
        }

        // the unstored VM is the plugin alone, without the host's state file: it bypasses the host API on purpose
        Hypervisor unstored = host.factory(spec.hypervisorType()).create(spec.withVmId(spec.vmId() + "-m"),
                host.context().withStateStore(new MemoryStore()));
        unstoredVm = unstored;
        Path rawDir = privateDir(spec.vmId() + "-raw");
        Process rawQemu = null;
        List<BenchReport.Metric> metrics = new ArrayList<>();
        try (VmHandle handle = host.start(spec)) {
            Hypervisor vm = handle.hypervisor();
            unstored.start();
            rawQemu = spawnRaw(rawDir, spec.vmId() + "-raw");
            try (RawQmp raw = RawQmp.connect(rawDir.resolve("qmp.sock"), timeout)) {
                String qemu = qemuVersion(raw.greeting);
                progress.accept("hotplug: " + options.warmup() + " warm-up and " + options.iterations()
                        + " measured attaches per side (each followed by a detach)");
                metrics.addAll(hotplug(vm.requireHotplug(), unstored.requireHotplug(), raw));
                Optional<NetworkHotplug> network = vm.networkHotplug();
                if (network.isPresent() && BenchTaps.usable()) {
                    metrics.add(nicHotplug(network.get(), raw));
                } else {
                    progress.accept("NIC hotplug: skipped (" + (network.isEmpty() ? "the VM has no network hotplug"
                            : "this host cannot make taps: /dev/net/tun needs root") + ")");
                }
                Optional<IOThreadProvider> pool = vm.ioThreads();
                if (pool.isPresent()) {
                    progress.accept("QMP round trip: " + options.iterations() + " per side");
                    metrics.add(roundTrip(pool.get(), raw, rawQemu.pid()));
                } else {
                    progress.accept("QMP round trip: skipped (the VM has no IOThread pool to list)");
                }
                metrics.add(BenchReport.Metric.of("start",
                        "hvspi: create and start() until the VM is recorded; raw: spawn, connect, greeting,"
                                + " qmp_capabilities", fwStart, rawStart));
                return new BenchReport(machine(qemu), metrics);
            }
        } finally {
            unstored.stop();
            unstored.close();
            if (rawQemu != null) {
                rawQemu.destroyForcibly();
                waitFor(rawQemu);
                gone(rawQemu);
            }
            RuntimeDirs.deleteTree(rawDir);
        }
    }

    /** Attach latency with the state file, without it (in-memory store), and raw; samples interleaved. */
    private List<BenchReport.Metric> hotplug(DeviceHotplug hotplug, DeviceHotplug unstored, RawQmp raw) {
        Samples fw = new Samples();
        Samples locked = new Samples();
        Samples mem = new Samples();
        Samples rw = new Samples();
        List<String> pool = poolIds();
        // the VM's own lock is held by its handle for the whole run; another VM id's lock costs the same
        String lockId = spec.vmId() + "-lock";
        int queues = spec.vcpus();
        for (int i = 0; i < options.warmup() + options.iterations(); i++) {
            // the two hvspi VMs take turns at going first: the first attach after the raw side's runs colder
            // than the second, which follows hvspi's own detach (0.04x between them, measured), and the two
            // metrics are read against each other as what the state file adds
            long fwNanos;
            long memNanos;
            if (i % 2 == 0) {
                fwNanos = attachAndDetach(hotplug);
                memNanos = attachAndDetach(unstored);
            } else {
                memNanos = attachAndDetach(unstored);
                fwNanos = attachAndDetach(hotplug);
            }
            long l0 = System.nanoTime();
            // what every hvctl process and host API call pays around its work on a VM
            VmLock.acquire(host.context().runtimeRoot(), lockId, timeout).close();
            long lockNanos = System.nanoTime() - l0;

            String node = RawQemu.nodeName(i);
            String ioThread = pool.isEmpty() ? null : pool.get(i % pool.size());
            quiet();
            long t0 = System.nanoTime();
            raw.execute(RawQemu.blockdevAdd(spec.block(), node, DISK_BYTES));
            raw.execute(RawQemu.virtioBlkPci(DISK_ID, node, "rp0", ioThread, queues));
            long rawNanos = System.nanoTime() - t0;
            raw.execute("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"" + DISK_ID + "\"}}");
            raw.execute("{\"execute\":\"system_reset\"}");
            raw.awaitLine("\"device\": \"" + DISK_ID + "\"");
            raw.execute("{\"execute\":\"blockdev-del\",\"arguments\":{\"node-name\":\"" + node + "\"}}");
            if (i >= options.warmup()) {
                fw.add(fwNanos);
                locked.add(fwNanos + lockNanos);
                mem.add(memNanos);
                rw.add(rawNanos);
            }
        }
        return List.of(
                BenchReport.Metric.of("hotplug", "attach of a null-co virtio-blk-pci disk onto an IOThread:"
                        + " hvspi's DeviceHotplug.attach (policy, reservation, intent logged, blockdev-add and"
                        + " device_add, outcome logged) vs raw blockdev-add then device_add", fw, rw),
                BenchReport.Metric.of("hotplug-with-lock", "the same attach plus one acquire and release of a"
                        + " VM's cross-process lock (VmLock), as every hvctl process and host API call takes it",
                        locked, rw),
                BenchReport.Metric.of("hotplug-no-state-file", "the same attach through hvspi with an in-memory"
                        + " state store (the intent log is still written): what the host's state file adds", mem, rw));
    }

    /**
     * NIC attach through hvspi (id and MAC checks, a generated MAC, root port reservation, the intent
     * logged, netdev_add and device_add, outcome logged) vs raw netdev_add then device_add, each on a
     * tap of its own made once for the run (a tap serves one QEMU).
     */
    private BenchReport.Metric nicHotplug(NetworkHotplug network, RawQmp raw) {
        Samples fw = new Samples();
        Samples rw = new Samples();
        String suffix = Integer.toHexString(spec.vmId().hashCode() & 0xffff);
        String fwTap = "hvbf" + suffix;
        String rawTap = "hvbr" + suffix;
        String netdev = RawQemu.netdevId(NIC_ID);
        // vhost-net as hvspi asks for it (QemuHypervisor: where /dev/vhost-net is usable), so that both
        // sides set up the same data path
        boolean vhost = RawQemu.vhostNetUsable();
        // the taps are removed when the step ends, and by the host's exit hook on SIGTERM or Ctrl-C
        // (after the VMs it stops), which a finally block does not see
        try (ClosedOnExit taps = host.closeOnExit(() -> {
            try {
                BenchTaps.remove(fwTap);
            } finally {
                BenchTaps.remove(rawTap);
            }
        })) {
            BenchTaps.create(fwTap);
            BenchTaps.create(rawTap);
            progress.accept("NIC hotplug: " + options.warmup() + " warm-up and " + options.iterations()
                    + " measured attaches per side (each followed by a detach), on taps " + fwTap + " and " + rawTap
                    + (vhost ? ", with vhost-net" : ""));
            for (int i = 0; i < options.warmup() + options.iterations(); i++) {
                quiet();
                long t0 = System.nanoTime();
                network.attach(NetDeviceSpec.of(NIC_ID, NetBackend.tap(fwTap)));
                long fwNanos = System.nanoTime() - t0;
                network.detach(NIC_ID);

                quiet();
                t0 = System.nanoTime();
                raw.execute(RawQemu.netdevAdd(netdev, rawTap, vhost));
                raw.execute("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-net-pci\","
                        + "\"id\":\"" + NIC_ID + "\",\"netdev\":\"" + netdev + "\","
                        + "\"mac\":\"02:00:00:00:00:01\",\"bus\":\"rp0\"}}");
                long rawNanos = System.nanoTime() - t0;
                raw.execute("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"" + NIC_ID + "\"}}");
                raw.execute("{\"execute\":\"system_reset\"}");
                raw.awaitLine("\"device\": \"" + NIC_ID + "\"");
                raw.execute("{\"execute\":\"netdev_del\",\"arguments\":{\"id\":\"" + netdev + "\"}}");
                if (i >= options.warmup()) {
                    fw.add(fwNanos);
                    rw.add(rawNanos);
                }
            }
        }
        return BenchReport.Metric.of("nic-hotplug", "attach of a virtio-net-pci NIC on an existing tap:"
                + " hvspi's NetworkHotplug.attach (id and MAC, a generated MAC, root port, intent logged,"
                + " netdev_add and device_add, outcome logged) vs raw netdev_add then device_add; both with"
                + " vhost-net where /dev/vhost-net is usable" + (vhost ? " (here: yes)" : " (here: no)"), fw, rw);
    }

    /**
     * Lets the machine go quiet for a millisecond before a sample, so that what one side leaves
     * running after it returns (hvspi's QMP reader going back to its socket, an event thread)
     * does not land in the next side's sample: back to back, hvspi's listing pushed the raw
     * listing that followed it from 0.32 to 0.37 ms. A control plane's operations come apart
     * like this too.
     */
    private static void quiet() {
        LockSupport.parkNanos(QUIET_NANOS);
    }

    private static long attachAndDetach(DeviceHotplug hotplug) {
        quiet();
        long t0 = System.nanoTime();
        hotplug.attach(BlockDeviceSpec.builder(DISK_ID, new BlockBackend.Null(DISK_BYTES)).build());
        long nanos = System.nanoTime() - t0;
        hotplug.detach(DISK_ID);
        return nanos;
    }

    private BenchReport.Metric roundTrip(IOThreadProvider pool, RawQmp raw, long rawPid) {
        Samples fw = new Samples();
        Samples rw = new Samples();
        for (int i = 0; i < options.warmup() + options.iterations(); i++) {
            quiet();
            long t0 = System.nanoTime();
            int listed = pool.list().size();
            long fwNanos = System.nanoTime() - t0;
            quiet();
            t0 = System.nanoTime();
            int rawListed = rawListing(raw, rawPid);
            long rawNanos = System.nanoTime() - t0;
            if (listed != rawListed) {
                throw new IllegalStateException("hvspi listed " + listed + " IOThreads, the raw client " + rawListed);
            }
            if (i >= options.warmup()) {
                fw.add(fwNanos);
                rw.add(rawNanos);
            }
        }
        return BenchReport.Metric.of("qmp-round-trip",
                "hvspi's IOThreadProvider.list() vs raw: query-iothreads and each IOThread's affinity from /proc,"
                        + " which list() reports too", fw, rw);
    }

    /**
     * The raw side of an IOThread listing: what {@code list()} returns costs one {@code query-iothreads} and one
     * read of each IOThread's {@code /proc} status (its CPU affinity, which only the kernel knows).
     */
    private static int rawListing(RawQmp raw, long qemuPid) {
        Matcher thread = THREAD_ID.matcher(raw.execute("{\"execute\":\"query-iothreads\"}"));
        int listed = 0;
        while (thread.find()) {
            try {
                String status = new String(Files.readAllBytes(Path.of("/proc", Long.toString(qemuPid), "task",
                        thread.group(1), "status")), StandardCharsets.ISO_8859_1);
                if (status.contains("\nCpus_allowed_list:")) {
                    listed++;
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return listed;
    }

    private long frameworkStart(String vmId) {
        quiet();
        long t0 = System.nanoTime();
        try (VmHandle vm = host.start(spec.withVmId(vmId))) {
            return System.nanoTime() - t0;
        }
    }

    private long rawStart(String vmId) {
        Path dir = privateDir(vmId);
        Process qemu = null;
        try {
            quiet();
            long t0 = System.nanoTime();
            qemu = spawnRaw(dir, vmId);
            try (RawQmp raw = RawQmp.connect(dir.resolve("qmp.sock"), timeout)) {
                long nanos = System.nanoTime() - t0;
                raw.execute("{\"execute\":\"quit\"}");
                return nanos;
            }
        } finally {
            if (qemu != null) {
                waitFor(qemu);
                gone(qemu);
            }
            RuntimeDirs.deleteTree(dir);
        }
    }

    private Process spawnRaw(Path dir, String name) {
        synchronized (rawAlive) {
            if (exiting) {
                throw new HvspiException("the benchmark is stopping");
            }
            Process qemu = RawQemu.spawn(spec, dir, name);
            rawAlive.put(qemu, dir);
            return qemu;
        }
    }

    private void gone(Process rawQemu) {
        synchronized (rawAlive) {
            rawAlive.remove(rawQemu);
        }
    }

    private List<String> poolIds() {
        return RawQemu.poolIds(spec);
    }

    private Path privateDir(String name) {
        Path dir = host.runtimeRoot().resolve(name);
        try {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            return dir;
        } catch (FileAlreadyExistsException e) {
            throw new RequestRejectedException(RequestRejectedException.Reason.DUPLICATE_ID,
                    "benchmark directory " + dir + " exists; remove it or pick another --vm-id");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + dir + ": " + e.getMessage(), e);
        }
    }

    private void waitFor(Process p) {
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
        }
    }

    private BenchReport.Machine machine(String qemu) {
        return new BenchReport.Machine(BenchReport.cpuModel(), Runtime.getRuntime().availableProcessors(), qemu,
                spec.accel(), MachineInfo.java(), options.iterations(), options.warmup(), options.starts());
    }

    private static String qemuVersion(String greeting) {
        Matcher m = QEMU_VERSION.matcher(greeting);
        return m.find() ? m.group(3) + "." + m.group(2) + "." + m.group(1) + " (" + m.group(4) + ")" : greeting;
    }
}
