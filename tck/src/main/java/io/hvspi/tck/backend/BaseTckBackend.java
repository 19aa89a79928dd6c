package io.hvspi.tck.backend;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.core.state.JsonVmStateStore;
import io.hvspi.core.state.VmEntry;
import io.hvspi.core.state.VmLock;
import io.hvspi.core.state.VmStopper;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.Capability;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmSpec;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * What every backend shares: a private work directory holding the runtime root
 * and scratch disks, one {@link DefaultHostContext}, sparse raw disk files, and
 * Kata-like defaults for the {@link VmSpec}.
 */
public abstract class BaseTckBackend implements TckBackend {
    /** Size of the kit's scratch disks: sparse, so they cost no space. */
    public static final long DISK_BYTES = 64L << 20;

    private final HypervisorFactory factory;
    private final Path workDir;
    private final DefaultHostContext host;
    private final List<String> leftRunning = new CopyOnWriteArrayList<>();

    /** How long a VMM gets after SIGTERM, and again after SIGKILL, when the kit ends it without its plugin. */
    public static final Duration SIGNAL_GRACE = Duration.ofSeconds(5);
    /** How long the kit waits for a VM's lock before ending the VM (only the kit takes it). */
    private static final Duration LOCK_WAIT = Duration.ofSeconds(10);

    /**
     * @param factory the plugin under test
     * @param workDir a directory the backend owns and removes on close; keep it short,
     *                Unix socket paths live under it (at most 107 bytes)
     */
    protected BaseTckBackend(HypervisorFactory factory, Path workDir) {
        this.factory = factory;
        this.workDir = workDir.toAbsolutePath();
        this.host = new DefaultHostContext(this.workDir.resolve("run"), DefaultHostContext.DEFAULT_COMMAND_TIMEOUT,
                Map.of());
    }

    /** A fresh private directory under the system temp dir (short, for socket paths); the backend removes it on close. */
    public static Path tempWorkDir(String prefix) {
        try {
            return Files.createTempDirectory(prefix);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a work directory: " + e.getMessage(), e);
        }
    }

    @Override
    public HypervisorFactory factory() {
        return factory;
    }

    /** The directory the backend owns. */
    public Path workDir() {
        return workDir;
    }

    @Override
    public Optional<String> unavailableReason() {
        return Optional.empty();
    }

    @Override
    public HostContext host(String vmId) {
        return host;
    }

    /** The shared host context (runtime root {@code workDir/run}, no options). */
    protected DefaultHostContext baseHost() {
        return host;
    }

    /** The binary this backend's VMs name in their spec. */
    protected abstract Path binary();

    /** The accelerator for the spec; the kit's hosts cannot boot KVM guests, so {@code tcg}. */
    protected String accel() {
        return "tcg";
    }

    @Override
    public VmSpec vmSpec(String vmId, int poolSize, IOThreadPolicy policy) {
        return defaultSpec(factory, vmId, binary(), accel(), poolSize, policy);
    }

    /**
     * A guest-less VM with Kata's defaults where they matter here: q35, two vCPUs (so
     * that a two-queue disk is valid everywhere: Cloud Hypervisor refuses more queues than vCPUs),
     * virtio-blk-pci, threads AIO, eight hotplug slots, and IOThreads enabled only
     * for a plugin that declares a pool (Dragonball refuses {@code enable_iothreads}).
     */
    static final int VCPUS = 2;

    public static VmSpec defaultSpec(HypervisorFactory factory, String vmId, Path binary, String accel, int poolSize,
                                     IOThreadPolicy policy) {
        boolean pool = factory.declaredCapabilities().contains(Capability.INDEPENDENT_IOTHREADS);
        Map<String, Object> table = new LinkedHashMap<>();
        table.put("path", binary.toString());
        table.put("machine_type", "q35");
        table.put("default_vcpus", VCPUS);
        table.put("default_memory", 256);
        table.put("block_device_driver", "virtio-blk-pci");
        table.put("block_device_aio", "threads");
        table.put("accel", accel);
        if (pool) {
            table.put("enable_iothreads", true);
            table.put("indep_iothreads", poolSize);
            table.put("indep_iothreads_policy", policy.key());
        }
        return VmSpec.builder().vmId(vmId).hypervisorType(factory.type()).binary(binary).vcpus(VCPUS).memoryMib(256)
                .machineType("q35").accel(accel)
                .block(new VmSpec.BlockOptions("virtio-blk-pci", "threads", false, false, false))
                .ioThreads(new VmSpec.IOThreadOptions(pool, pool ? poolSize : 0, policy)).hotplugSlots(8).table(table)
                .build();
    }

    @Override
    public BlockBackend disk(String name) {
        Path file = workDir.resolve("disks").resolve(name + ".img");
        try {
            Files.createDirectories(file.getParent());
            try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
                raf.setLength(DISK_BYTES);
            }
            return BlockBackend.path(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create scratch disk " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public boolean realHostThreads() {
        return true;
    }

    /**
     * Ends the VM through core's {@link VmStopper}: its VMM, as the record's verified
     * identity or a {@code /proc} scan proves it, gets SIGTERM then SIGKILL; the record
     * and runtime directory go only once none is left. Nothing to end is not an error.
     *
     * @throws io.hvspi.spi.HvspiException when a VMM still runs afterwards (record and directory kept)
     */
    @Override
    public void endVm(String vmId) {
        if (!(host.stateStore() instanceof JsonVmStateStore store)) {
            TckBackend.super.endVm(vmId);
            return;
        }
        try (VmLock lock = VmLock.acquire(host.runtimeRoot(), vmId, LOCK_WAIT)) {
            new VmStopper(store, Duration.ZERO, SIGNAL_GRACE).stop(lock, Optional.empty());
        } catch (RequestRejectedException e) {
            if (e.reason() != RequestRejectedException.Reason.NOT_FOUND) {
                throw e;
            }
        }
    }

    @Override
    public List<String> leftRunning() {
        return List.copyOf(leftRunning);
    }

    /**
     * Ends every VM still under the runtime root (a plugin's stop that failed or never
     * returned leaves its VMM running), then removes the work directory: only when no VMM
     * of it is left, since a running VMM's record is the only way to find it again.
     */
    @Override
    public void close() {
        leftRunning.clear();
        if (host.stateStore() instanceof JsonVmStateStore store) {
            List<VmEntry> entries;
            try {
                entries = store.entries();
            } catch (RuntimeException e) {
                entries = List.of();
                leftRunning.add("cannot list the VMs under " + host.runtimeRoot() + ": " + e.getMessage());
            }
            for (VmEntry e : entries) {
                try {
                    endVm(e.vmId());
                } catch (RuntimeException failure) {
                    leftRunning.add(String.valueOf(failure.getMessage()));
                }
            }
        }
        if (leftRunning.isEmpty()) {
            deleteTree(workDir);
        }
    }

    /** Removes a directory tree; best effort, for cleanup paths that must not throw. */
    protected static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try {
            io.hvspi.core.state.RuntimeDirs.deleteTree(root);
        } catch (io.hvspi.spi.HvspiException ignored) {
            // cleanup must not hide the test's own result
        }
    }
}
