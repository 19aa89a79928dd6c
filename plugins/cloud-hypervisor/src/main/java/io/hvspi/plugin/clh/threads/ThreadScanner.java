package io.hvspi.plugin.clh.threads;

import io.hvspi.kit.threads.ProcTasks;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.HostThreads.HostThread;
import io.hvspi.spi.HostThreads.Role;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Names Cloud Hypervisor's threads, read by the plugin kit from
 * {@code /proc/<pid>/task/<tid>/comm}: the main thread, the vCPUs ({@code vcpu<i>})
 * and one worker per disk queue ({@code <id>_q<i>}, named by the VMM when the guest
 * activates the disk). Linux keeps only the first 15 bytes of a thread's name, so a
 * long device id is matched by its truncated name; when two devices' truncated names
 * collide, the worker is listed without an owner.
 */
public final class ThreadScanner {
    private static final Pattern VCPU = Pattern.compile("vcpu(\\d+)");

    /** A disk and how many queues it has. */
    public record Disk(String id, int queues) {}

    private final ProcTasks proc;

    public ThreadScanner(Path proc) {
        this.proc = new ProcTasks(proc);
    }

    /** Scans the real {@code /proc}. */
    public static ThreadScanner system() {
        return new ThreadScanner(Path.of("/proc"));
    }

    /**
     * The identified threads of process {@code pid}: main first, then vCPUs by
     * index, then queue workers in the order of {@code disks} and their queues.
     * Threads that are none of these are left out.
     */
    public HostThreads scan(long pid, List<Disk> disks) {
        Map<String, Optional<String>> workers = new HashMap<>();
        Map<String, Integer> order = new HashMap<>();
        Set<String> ambiguous = new HashSet<>();
        for (Disk disk : disks) {
            for (int q = 0; q < disk.queues(); q++) {
                String name = ProcTasks.comm(disk.id() + "_q" + q);
                Optional<String> previous = workers.putIfAbsent(name, Optional.of(disk.id()));
                if (previous != null && !previous.equals(Optional.of(disk.id()))) {
                    ambiguous.add(name);
                }
                order.putIfAbsent(name, order.size());
            }
        }
        ambiguous.forEach(name -> workers.put(name, Optional.empty()));

        List<HostThread> threads = new ArrayList<>();
        List<ProcTasks.Task> tasks;
        try {
            tasks = proc.list(pid);
        } catch (VmmUnavailableException e) {
            throw new VmmUnavailableException(e.reason(), "clh: " + e.getMessage(), e);
        }
        for (ProcTasks.Task task : tasks) {
            long tid = task.tid();
            String name = task.comm();
            var vcpu = VCPU.matcher(name);
            if (tid == pid) {
                threads.add(new HostThread(tid, name, Role.MAIN, Optional.empty()));
            } else if (vcpu.matches()) {
                threads.add(new HostThread(tid, name, Role.VCPU, Optional.of(vcpu.group(1))));
            } else if (workers.containsKey(name)) {
                threads.add(new HostThread(tid, name, Role.QUEUE_WORKER, workers.get(name)));
            }
        }
        threads.sort(Comparator.comparingInt((HostThread t) -> t.role().ordinal())
                .thenComparingInt(t -> t.role() == Role.VCPU ? Integer.parseInt(t.owner().orElse("0"))
                        : order.getOrDefault(t.name(), 0))
                .thenComparingLong(HostThread::tid));
        return new HostThreads(pid, threads);
    }
}
