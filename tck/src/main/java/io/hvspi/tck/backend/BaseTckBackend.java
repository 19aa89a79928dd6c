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
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantReadWriteLock;

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
    /**
     * Held (read) by every {@link #endVm} and (write) by {@link #close}: a close waits for an end in
     * progress, and no end starts after it, so nothing makes the runtime root's {@code .locks} again
     * once the work directory is gone.
     */
    private final ReentrantReadWriteLock closing = new ReentrantReadWriteLock();
    private volatile boolean closed;
    /** Computed once, by the one close that does the work. */
    private volatile List<String> leftRunning = List.of();

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
        checkOpen();
        return host;
    }

    /** Whether {@link #close} has begun: from then on no VM is made and none ended through this backend. */
    public boolean isClosed() {
        return closed;
    }

    /**
     * Refuses once the backend is closed: a run given up past its deadline that goes on later must
     * not start a simulator, make a VM or recreate files under a work directory already removed.
     */
    protected final void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the kit's backend for '" + factory.type() + "' is closed (" + workDir
                    + ")");
        }
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
        checkOpen();
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
        checkOpen();
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
        closing.readLock().lock();
        try {
            checkOpen();
            end(vmId);
        } finally {
            closing.readLock().unlock();
        }
    }

    private void end(String vmId) {
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

    /**
     * SIGKILL to the pid in the VM's record, when the VMM is a real process of its own (not this
     * JVM, as an in-process VMM's is); waits up to {@link #SIGNAL_GRACE} for it to be gone.
     */
    @Override
    public boolean killVmm(String vmId) {
        checkOpen();
        if (!realHostThreads()) {
            return false;
        }
        long pid = host.stateStore().load(vmId).map(io.hvspi.spi.VmRecord::pid).orElse(0L);
        if (pid <= 0 || pid == ProcessHandle.current().pid()) {
            return false;
        }
        Optional<ProcessHandle> vmm = ProcessHandle.of(pid);
        if (vmm.isEmpty()) {
            throw new IllegalStateException("VM '" + vmId + "': no process " + pid + " to kill (its VMM is gone already)");
        }
        vmm.get().destroyForcibly();
        try {
            vmm.get().onExit().get(SIGNAL_GRACE.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("VM '" + vmId + "': process " + pid + " still runs "
                    + SIGNAL_GRACE.toSeconds() + " s after SIGKILL");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while killing VM '" + vmId + "'");
        }
        return true;
    }

    @Override
    public List<String> leftRunning() {
        return leftRunning;
    }

    /**
     * Ends every VM still under the runtime root (a plugin's stop that failed or never
     * returned leaves its VMM running), then removes the work directory: only when no VMM
     * of it is left, since a running VMM's record is the only way to find it again.
     *
     * <p>Once only: the first call does the work and fixes {@link #leftRunning}; a later or
     * concurrent call (a run given up past its deadline that reaches its own cleanup later)
     * waits for it and changes nothing. A subclass releases its own resources in
     * {@link #release}, not by overriding this.
     */
    @Override
    public final void close() {
        closing.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            try {
                release();
            } catch (RuntimeException ignored) {
                // what the subclass could not release must not keep the VMMs running
            }
            List<String> left = new ArrayList<>();
            if (host.stateStore() instanceof JsonVmStateStore store) {
                List<VmEntry> entries;
                try {
                    entries = store.entries();
                } catch (RuntimeException e) {
                    entries = List.of();
                    left.add("cannot list the VMs under " + host.runtimeRoot() + ": " + e.getMessage());
                }
                for (VmEntry e : entries) {
                    try {
                        endAtClose(e.vmId());
                    } catch (RuntimeException failure) {
                        left.add(String.valueOf(failure.getMessage()));
                    }
                }
            }
            leftRunning = List.copyOf(left);
            if (left.isEmpty()) {
                deleteTree(workDir);
            }
        } finally {
            closing.writeLock().unlock();
        }
    }

    /**
     * Ends one VM left under the runtime root at close, as {@link #endVm} would (which refuses by
     * then); a test may override it to play a VMM that cannot be ended.
     */
    protected void endAtClose(String vmId) {
        end(vmId);
    }

    /**
     * What a subclass started (simulators), released once at the start of {@link #close}, before the
     * VMs left are ended; no VM can be made meanwhile ({@link #host} refuses). Must not throw.
     */
    protected void release() {
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
