package io.hvspi.plugin.qemu.iothread;

import io.hvspi.kit.threads.CgroupPlacement;
import io.hvspi.kit.threads.ProcTasks;
import io.hvspi.kit.threads.ThreadAffinity;
import io.hvspi.plugin.qemu.state.Intent;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.CpuSet;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * The VM's IOThread pins and thread placement: which IOThread hvspi pinned to
 * which CPU set (recorded, so that another process reports and keeps them), and
 * the pool's CPU set and cgroup, which IOThreads added while the VM runs get too.
 * What a thread's affinity <i>is</i> is always read from the kernel
 * ({@code Cpus_allowed_list}); this class only remembers what was asked. Guarded
 * by the VM's model lock.
 */
public final class IOThreadPins {
    private static final ProcTasks PROC = ProcTasks.system();

    private final Object lock;
    private final long pid;
    private final QemuState.Placement placement;
    private final Map<String, CpuSet> pins = new TreeMap<>();

    /**
     * @param pid QEMU's pid, 0 when hvspi did not spawn it (thread ids are then read as {@code /proc/TID})
     * @param saved the recorded pins, by IOThread id
     * @param placement the placement asked for at start, or {@code null}
     */
    public IOThreadPins(Object lock, long pid, Map<String, String> saved, QemuState.Placement placement) {
        this.lock = lock;
        this.pid = pid;
        this.placement = placement;
        saved.forEach((id, cpus) -> pins.put(id, recorded("the pin of IOThread '" + id + "'", cpus)));
    }

    /**
     * A CPU set the record holds: a damaged one is the record's fault, reported in one line as
     * every other unreadable record is, not a plugin fault.
     */
    private static CpuSet recorded(String what, String cpus) {
        try {
            return CpuSet.parse(cpus);
        } catch (RuntimeException e) {
            throw new HvspiException("unreadable QEMU plugin state: " + what + " is not a CPU set ("
                    + String.valueOf(e.getMessage()).replace('\n', ' ') + ")", e);
        }
    }

    /** The placement asked for at start, or {@code null}. */
    public QemuState.Placement placement() {
        return placement;
    }

    public Optional<CpuSet> pinned(String id) {
        synchronized (lock) {
            return Optional.ofNullable(pins.get(id));
        }
    }

    /** The pins as the state records them. */
    public Map<String, String> snapshot() {
        synchronized (lock) {
            Map<String, String> out = new LinkedHashMap<>();
            pins.forEach((id, cpus) -> out.put(id, cpus.toString()));
            return out;
        }
    }

    /** The kernel's view of a thread's CPU set; empty when it cannot be read. */
    public Optional<CpuSet> affinity(long tid) {
        return PROC.affinity(pid > 0 ? pid : tid, tid);
    }

    /** True when the thread is QEMU's ({@code /proc/PID/task/TID} exists); true when QEMU's pid is unknown. */
    boolean ownThread(long tid) {
        return pid <= 0 || java.nio.file.Files.exists(java.nio.file.Path.of("/proc", Long.toString(pid), "task",
                Long.toString(tid)));
    }

    /** The cgroup a thread is in, in the hierarchy threads are placed into; empty when unknown. */
    public Optional<String> cgroup(Optional<CgroupPlacement> hierarchy, long tid) {
        return hierarchy.flatMap(h -> h.where(PROC, pid > 0 ? pid : tid, tid));
    }

    /**
     * What the kernel gave a thread that was asked for {@code asked}: {@code sched_setaffinity}
     * intersects the set with the thread's cpuset cgroup, so a pin to 0-1 of a thread whose cpuset
     * has only CPU 1 is 1. That is what is recorded, since every reattach holds the record against
     * the kernel; {@code asked} itself when the kernel's view cannot be read.
     */
    CpuSet applied(long tid, CpuSet asked) {
        return affinity(tid).filter(now -> now.isSubsetOf(asked)).orElse(asked);
    }

    /** Records a pin; the caller saves next, with the lock held. */
    void record(String id, CpuSet cpus) {
        synchronized (lock) {
            pins.put(id, cpus);
        }
    }

    /** Forgets a pin; true when there was one. */
    boolean forget(String id) {
        synchronized (lock) {
            return pins.remove(id) != null;
        }
    }

    /**
     * Refuses a set with CPUs this host does not have.
     *
     * @throws RequestRejectedException {@code INVALID_ARGUMENT} naming the missing CPUs
     */
    public static void checkOnHost(CpuSet cpus, String what) {
        CpuSet host = ThreadAffinity.hostCpus();
        List<Integer> missing = cpus.missingFrom(host);
        if (!missing.isEmpty()) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT, what + " " + cpus + " names CPU"
                    + (missing.size() == 1 ? " " : "s ") + CpuSet.of(missing.stream().mapToInt(i -> i).toArray())
                    + " that this host does not have (online: " + host + ")");
        }
    }

    /**
     * Puts a pool IOThread where the placement says: into the pool's cgroup first (entering
     * a cpuset resets a thread's affinity), then pinned to the pool's CPU set, recorded.
     * Nothing happens without a placement.
     */
    public void placePoolThread(String id, long tid) {
        if (placement == null) {
            return;
        }
        if (placement.ioThreadCgroup() != null) {
            CgroupPlacement cg = CgroupPlacement.require();
            cg.prepare(placement.ioThreadCgroup(), Optional.ofNullable(placement.poolCpus()).map(CpuSet::parse));
            cg.place(placement.ioThreadCgroup(), tid);
        }
        if (placement.poolCpus() != null) {
            CpuSet cpus = CpuSet.parse(placement.poolCpus());
            ThreadAffinity.set(tid, cpus);
            record(id, applied(tid, cpus));
        }
    }

    /**
     * Places each pool IOThread that is not where the placement puts it: one a process added and
     * died before placing (the add's intent ends before the placement, which nothing covers). With
     * a pool CPU set that is every pool IOThread without a pin; with only a cgroup, every one outside it.
     *
     * @param tids the host thread of each IOThread QEMU has now
     * @return one note per IOThread placed, or that could not be
     */
    public List<String> placeUnplaced(List<QemuState.IOThreadState> threads, Map<String, Long> tids) {
        List<String> notes = new ArrayList<>();
        if (placement == null || placement.poolCpus() == null && placement.ioThreadCgroup() == null) {
            return notes;
        }
        Optional<CgroupPlacement> hierarchy = placement.poolCpus() == null ? CgroupPlacement.detect() : Optional.empty();
        for (QemuState.IOThreadState t : threads) {
            Long tid = tids.get(t.id());
            if (t.kind() != IOThreadInfo.Kind.POOL || tid == null || tid <= 0) {
                continue;
            }
            boolean placed = placement.poolCpus() != null ? pinned(t.id()).isPresent()
                    : cgroup(hierarchy, tid).equals(Optional.of(placement.ioThreadCgroup()));
            if (placed) {
                continue;
            }
            try {
                placePoolThread(t.id(), tid);
                notes.add("IOThread '" + t.id() + "' was not placed as the pool is (a process added it and died"
                        + " before placing it): placed");
            } catch (HvspiException e) {
                notes.add("IOThread '" + t.id() + "' is not placed as the pool is, and cannot be: " + e.getMessage());
            }
        }
        return notes;
    }

    /**
     * The CPUs QEMU's process may use: its main thread's {@code Cpus_allowed_list} (QEMU started
     * under {@code taskset}, or in a cpuset, has fewer than the host); every online CPU of the host
     * when QEMU's pid is unknown or its main thread cannot be read.
     */
    public CpuSet processCpus() {
        return (pid > 0 ? affinity(pid) : Optional.<CpuSet>empty()).orElseGet(ThreadAffinity::hostCpus);
    }

    /**
     * Unpins an IOThread: a pool IOThread under a pool CPU set goes back to that set, recorded as
     * the placement records it (else a reattach would place it again, undoing the unpin later);
     * any other goes to {@link #processCpus()}, and its pin is forgotten.
     */
    public void unpin(String id, IOThreadInfo.Kind kind, long tid) {
        if (kind == IOThreadInfo.Kind.POOL && placement != null && placement.poolCpus() != null) {
            CpuSet cpus = CpuSet.parse(placement.poolCpus());
            ThreadAffinity.set(tid, cpus);
            record(id, applied(tid, cpus));
        } else {
            ThreadAffinity.set(tid, processCpus());
            forget(id);
        }
    }

    /** Puts vCPU threads into the vCPU cgroup, when one was asked for. */
    public void placeVcpuThreads(List<Long> tids) {
        if (placement == null || placement.vcpuCgroup() == null) {
            return;
        }
        CgroupPlacement cg = CgroupPlacement.require();
        cg.prepare(placement.vcpuCgroup(), Optional.empty());
        for (long tid : tids) {
            cg.place(placement.vcpuCgroup(), tid);
        }
    }

    /**
     * Settles the pin and unpin intents an earlier process left, against the kernel: a
     * pin whose thread has the set is recorded, one whose thread does not is forgotten
     * (nothing else changed); an unpin whose thread still has the recorded set keeps the
     * pin, else the pin is forgotten. Pins of IOThreads the VM no longer has are dropped.
     *
     * @param tids the host thread of each IOThread QEMU has now
     * @return one note per change
     */
    public List<String> settle(List<Intent> intents, Map<String, Long> tids, Set<String> ioThreads) {
        List<String> notes = new ArrayList<>();
        synchronized (lock) {
            for (Intent i : intents) {
                if (!i.aboutPin()) {
                    continue;
                }
                Long tid = tids.get(i.id());
                Optional<CpuSet> now = tid == null ? Optional.empty() : affinity(tid);
                if (i.op() == Intent.Op.PIN) {
                    if (i.target().size() != 1) {
                        throw new HvspiException("unreadable QEMU plugin state: the pin intent of IOThread '" + i.id()
                                + "' names " + i.target().size() + " CPU sets, not one");
                    }
                    CpuSet asked = recorded("the pin intent of IOThread '" + i.id() + "'", i.target().get(0));
                    // the kernel narrows a set to the thread's cpuset: what it applied is within what was asked
                    if (now.isPresent() && now.get().isSubsetOf(asked)) {
                        pins.put(i.id(), now.get());
                        notes.add("pin of IOThread '" + i.id() + "' to " + asked + " was interrupted after the kernel"
                                + " applied it: recorded" + (now.get().equals(asked) ? "" : " as " + now.get()
                                + ", what its cpuset leaves of it"));
                    } else {
                        notes.add("pin of IOThread '" + i.id() + "' to " + asked + " was interrupted before the"
                                + " kernel applied it: forgotten");
                    }
                } else {
                    CpuSet recorded = pins.get(i.id());
                    if (recorded != null && !now.equals(Optional.of(recorded))) {
                        pins.remove(i.id());
                        notes.add("unpin of IOThread '" + i.id() + "' was interrupted after the kernel applied it:"
                                + " the pin is forgotten");
                    } else {
                        notes.add("unpin of IOThread '" + i.id() + "' was interrupted before the kernel applied it:"
                                + " the pin is kept");
                    }
                }
            }
            for (String id : List.copyOf(pins.keySet())) {
                if (!ioThreads.contains(id)) {
                    pins.remove(id);
                    notes.add("IOThread '" + id + "' was pinned but the VM no longer has it: pin dropped");
                    continue;
                }
                // the record says what the kernel has: a thread moved since (by hand, or a record edited) is
                // reported with its real CPUs, not as pinned to a set it is not on
                Long tid = tids.get(id);
                Optional<CpuSet> now = tid == null ? Optional.empty() : affinity(tid);
                if (now.isPresent() && !now.get().equals(pins.get(id))) {
                    notes.add("IOThread '" + id + "' was recorded pinned to " + pins.get(id) + " but the kernel has it"
                            + " on " + now.get() + ": pin dropped");
                    pins.remove(id);
                }
            }
        }
        return notes;
    }
}
