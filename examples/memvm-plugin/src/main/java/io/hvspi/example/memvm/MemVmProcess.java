package io.hvspi.example.memvm;

import static io.hvspi.spi.Capability.*;

import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Capability;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.PollingParams;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The "VMM process" of one memvm VM: it lives in this JVM, outlives the
 * {@link MemVm} handles that talk to it (so reattach works), and runs real host
 * threads for its main loop, vCPUs, IOThreads and queue workers.
 */
final class MemVmProcess {
    /** The processes alive in this JVM, by instance id (what the state record keeps). */
    private static final Map<String, MemVmProcess> ALIVE = new ConcurrentHashMap<>();
    /** QEMU's id grammar, which memvm borrows: a letter, then letters, digits, '-', '.', '_'. */
    private static final Pattern ID = Pattern.compile("[A-Za-z][A-Za-z0-9._-]{0,63}");

    private record Disk(BlockDevice device, List<HostThread> workers) {}

    private final String instance = UUID.randomUUID().toString();
    private final String vmId;
    private final MemVmProfile profile;
    private final IOThreadPolicy policy;
    private final HostThread mainLoop;
    private final List<HostThread> vcpus = new ArrayList<>();
    private final Map<String, HostThread> pool = new LinkedHashMap<>();
    private final Map<String, PollingParams> polling = new LinkedHashMap<>();
    private final Map<String, Disk> disks = new LinkedHashMap<>();
    private long turn;
    private VmState state = VmState.PAUSED;

    private MemVmProcess(String vmId, MemVmProfile profile, int vcpus, int poolSize, IOThreadPolicy policy) {
        this.vmId = vmId;
        this.profile = profile;
        this.policy = policy;
        this.mainLoop = new HostThread(vmId + "-main");
        for (int i = 0; i < vcpus; i++) {
            this.vcpus.add(new HostThread(vmId + "-vcpu" + i));
        }
        if (profile.works().contains(INDEPENDENT_IOTHREADS)) {
            for (int i = 0; i < poolSize; i++) {
                String id = "indep_iothread_" + i;
                pool.put(id, new HostThread(id));
            }
        }
    }

    /** Starts a VMM: paused, like QEMU with {@code -S} and no guest. */
    static MemVmProcess launch(String vmId, MemVmProfile profile, int vcpus, int poolSize, IOThreadPolicy policy) {
        MemVmProcess p = new MemVmProcess(vmId, profile, vcpus, poolSize, policy);
        ALIVE.put(p.instance, p);
        return p;
    }

    static Optional<MemVmProcess> find(String instance) {
        return Optional.ofNullable(ALIVE.get(instance));
    }

    String instance() {
        return instance;
    }

    IOThreadPolicy policy() {
        return policy;
    }

    synchronized VmState state() {
        return state;
    }

    synchronized void pause() {
        requireAlive();
        state = VmState.PAUSED;
    }

    synchronized void resume() {
        requireAlive();
        state = VmState.RUNNING;
    }

    /** Ends every thread; the process is gone. */
    synchronized void shutdown() {
        if (state == VmState.STOPPED) {
            return;
        }
        disks.values().forEach(d -> d.workers().forEach(HostThread::stop));
        disks.clear();
        pool.values().forEach(HostThread::stop);
        pool.clear();
        vcpus.forEach(HostThread::stop);
        mainLoop.stop();
        state = VmState.STOPPED;
        ALIVE.remove(instance);
    }

    synchronized HostThreads hostThreads() {
        List<HostThreads.HostThread> out = new ArrayList<>();
        out.add(new HostThreads.HostThread(mainLoop.tid(), mainLoop.hostName(), HostThreads.Role.MAIN, Optional.empty()));
        for (int i = 0; i < vcpus.size(); i++) {
            HostThread t = vcpus.get(i);
            out.add(new HostThreads.HostThread(t.tid(), t.hostName(), HostThreads.Role.VCPU, Optional.of(Integer.toString(i))));
        }
        pool.forEach((id, t) -> out.add(new HostThreads.HostThread(t.tid(), t.hostName(), HostThreads.Role.IOTHREAD,
                Optional.of(id))));
        disks.forEach((id, d) -> d.workers().forEach(t -> out.add(new HostThreads.HostThread(t.tid(), t.hostName(),
                HostThreads.Role.QUEUE_WORKER, Optional.of(id)))));
        return new HostThreads(ProcessHandle.current().pid(), out);
    }

    // ---- IOThread pool -------------------------------------------------------

    synchronized List<IOThreadInfo> ioThreads() {
        requireAlive();
        List<IOThreadInfo> out = new ArrayList<>();
        pool.forEach((id, t) -> out.add(new IOThreadInfo(id, IOThreadInfo.Kind.POOL, OptionalLong.of(t.tid()),
                devicesOn(id), Optional.ofNullable(polling.get(id)))));
        return out;
    }

    synchronized String choose() {
        requireAlive();
        return policy.choose(List.copyOf(pool.keySet()), id -> devicesOn(id).size(), turn);
    }

    synchronized IOThreadInfo addIoThread(String id) {
        requireWorks(IOTHREAD_RUNTIME_ADD);
        requireAlive();
        checkId(id, "IOThread");
        if (pool.containsKey(id)) {
            throw new RequestRejectedException(Reason.DUPLICATE_ID, "memvm: VM '" + vmId + "' already has IOThread '" + id + "'");
        }
        HostThread t = new HostThread(id);
        pool.put(id, t);
        return new IOThreadInfo(id, IOThreadInfo.Kind.POOL, OptionalLong.of(t.tid()), List.of(), Optional.empty());
    }

    synchronized void removeIoThread(String id) {
        requireWorks(IOTHREAD_RUNTIME_ADD);
        requireAlive();
        requireIoThread(id);
        List<String> users = devicesOn(id);
        if (!users.isEmpty()) {
            throw new RequestRejectedException(Reason.IN_USE,
                    "memvm: IOThread '" + id + "' of VM '" + vmId + "' is used by " + String.join(", ", users));
        }
        pool.remove(id).stop();
        polling.remove(id);
    }

    synchronized void setPolling(String id, PollingParams params) {
        requireWorks(IOTHREAD_POLLING);
        requireAlive();
        requireIoThread(id);
        polling.put(id, params);
    }

    // ---- hotplug -------------------------------------------------------------

    synchronized BlockDevice attach(BlockDeviceSpec spec) {
        requireAlive();
        checkId(spec.id(), "device");
        if (disks.containsKey(spec.id())) {
            throw new RequestRejectedException(Reason.DUPLICATE_ID, "memvm: VM '" + vmId + "' already has device '" + spec.id() + "'");
        }
        int queues = spec.queues().orElse(1);
        if (queues > 1) {
            requireWorks(MULTI_QUEUE);
        }
        if (!spec.queueAffinity().isEmpty()) {
            requireWorks(QUEUE_AFFINITY);
        }
        List<String> ioThreads = resolve(spec.ioThread());
        if (spec.backend() instanceof BlockBackend.HostPath(var path) && !Files.isReadable(path)) {
            // what a VMM answers: its own error, kept as it said it
            throw new VmmException("blockdev-add", "GenericError",
                    "Could not open '" + path + "': No such file or directory");
        }
        if (spec.ioThread() instanceof IOThreadChoice.ByPolicy && !ioThreads.isEmpty()) {
            turn++;
        }
        List<HostThread> workers = new ArrayList<>();
        try {
            if (profile.works().contains(PER_QUEUE_IO_THREADS)) {
                for (int q = 0; q < queues; q++) {
                    HostThread w = new HostThread(spec.id() + "_q" + q);
                    workers.add(w);
                    List<Integer> cpus = spec.queueAffinity().get(q);
                    if (cpus != null) {
                        pin(w, cpus);
                    }
                }
            }
        } catch (RuntimeException e) {
            workers.forEach(HostThread::stop); // a failed attach leaves nothing behind
            throw e;
        }
        BlockDevice device = new BlockDevice(spec.id(), spec.driver().orElse("virtio-blk-pci"), spec.backend(),
                spec.readOnly(), ioThreads, queues, Optional.of("memvm:" + disks.size()));
        disks.put(spec.id(), new Disk(device, workers));
        return device;
    }

    synchronized void detach(String id) {
        requireAlive();
        Disk d = disks.remove(id);
        if (d == null) {
            throw new RequestRejectedException(Reason.NOT_FOUND, "memvm: VM '" + vmId + "' has no device '" + id + "'");
        }
        d.workers().forEach(HostThread::stop);
    }

    synchronized List<BlockDevice> devices() {
        requireAlive();
        return disks.values().stream().map(Disk::device).toList();
    }

    synchronized BlockDevice move(String id, IOThreadChoice target) {
        requireWorks(IOTHREAD_MOVE);
        requireAlive();
        Disk d = disks.get(id);
        if (d == null) {
            throw new RequestRejectedException(Reason.NOT_FOUND, "memvm: VM '" + vmId + "' has no device '" + id + "'");
        }
        BlockDevice old = d.device();
        BlockDevice moved = new BlockDevice(old.id(), old.driver(), old.backend(), old.readOnly(), resolve(target),
                old.queues(), old.address());
        disks.put(id, new Disk(moved, d.workers()));
        return moved;
    }

    // ---- helpers -------------------------------------------------------------

    private List<String> resolve(IOThreadChoice choice) {
        return switch (choice) {
            case IOThreadChoice.MainLoop m -> List.of();
            case IOThreadChoice.ByPolicy p -> !profile.works().contains(INDEPENDENT_IOTHREADS) || pool.isEmpty()
                    ? List.of() : List.of(choose());
            case IOThreadChoice.Named n -> {
                requireWorks(INDEPENDENT_IOTHREADS);
                requireIoThread(n.id());
                yield List.of(n.id());
            }
            case IOThreadChoice.VqMapped v -> {
                requireWorks(IOTHREAD_VQ_MAPPING);
                v.ids().forEach(this::requireIoThread);
                yield v.ids();
            }
        };
    }

    private List<String> devicesOn(String ioThread) {
        return disks.values().stream().map(Disk::device).filter(d -> d.ioThreads().contains(ioThread))
                .map(BlockDevice::id).toList();
    }

    private void requireIoThread(String id) {
        if (!pool.containsKey(id)) {
            throw new RequestRejectedException(Reason.NOT_FOUND, "memvm: VM '" + vmId + "' has no IOThread '" + id + "'");
        }
    }

    private void requireAlive() {
        if (state == VmState.STOPPED) {
            throw new RequestRejectedException(Reason.INVALID_STATE, "memvm: VM '" + vmId + "' is stopped");
        }
    }

    private void requireWorks(Capability c) {
        if (!profile.works().contains(c)) {
            throw new UnsupportedCapabilityException(c, profile.type());
        }
    }

    private static void checkId(String id, String what) {
        if (!ID.matcher(id).matches()) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "memvm: invalid " + what + " id '" + id
                    + "': expected a letter, then letters, digits, '-', '.' or '_'");
        }
    }

    /** Pins a worker with taskset, as a real VMM would with sched_setaffinity. */
    private static void pin(HostThread worker, List<Integer> cpus) {
        String list = cpus.stream().map(String::valueOf).collect(Collectors.joining(","));
        List<String> argv = List.of("taskset", "-p", "-c", list, Long.toString(worker.tid()));
        try {
            Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(5, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new VmmException(String.join(" ", argv), "taskset", out);
            }
        } catch (IOException e) {
            throw new VmmException(String.join(" ", argv), "IOException", String.valueOf(e.getMessage()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmException(String.join(" ", argv), "interrupted", "interrupted");
        }
    }
}
