package io.hvspi.cli.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * What the JVM and a VMM process hold at one moment: the JVM's live heap,
 * platform threads and open files, a process's resident memory and threads from
 * {@code /proc}; and the CPU time used so far.
 */
final class Footprint {
    /** A forced collection that frees less than this is taken as "nothing left to free". */
    private static final long SETTLED_BYTES = 64 * 1024;
    private static final int MAX_COLLECTIONS = 8;
    /** {@code /proc/stat} counts in USER_HZ, 100 on every Linux architecture hvspi runs on. */
    private static final long NANOS_PER_TICK = 10_000_000;

    private Footprint() {}

    /**
     * The JVM at one moment.
     *
     * @param heapUsedBytes heap in use after forced collections: the live objects
     * @param threads live platform threads (virtual threads are not counted: they are heap objects)
     * @param threadsByName the same threads by name, digits replaced by {@code N}
     * @param openFiles file descriptors the JVM holds ({@code /proc/self/fd}); -1 where unreadable
     */
    record Jvm(long heapUsedBytes, int threads, Map<String, Integer> threadsByName, int openFiles) {
        /** Per-name thread counts of {@code this} minus {@code before}, zeros left out. */
        Map<String, Integer> threadsAddedSince(Jvm before) {
            Map<String, Integer> diff = new TreeMap<>();
            threadsByName.forEach((name, n) -> {
                int d = n - before.threadsByName.getOrDefault(name, 0);
                if (d != 0) {
                    diff.put(name, d);
                }
            });
            before.threadsByName.forEach((name, n) -> {
                if (!threadsByName.containsKey(name)) {
                    diff.put(name, -n);
                }
            });
            return diff;
        }
    }

    /**
     * Heap in use ({@code Runtime.totalMemory() - freeMemory()}) after {@code System.gc()}
     * repeated until a collection frees less than 64 KiB (at most eight): on G1, Parallel and
     * Serial an explicit GC is a full, stop-the-world collection, so what stays is reachable.
     * The live threads are counted after it.
     */
    static Jvm jvm() {
        Runtime rt = Runtime.getRuntime();
        long used = Long.MAX_VALUE;
        for (int i = 0; i < MAX_COLLECTIONS; i++) {
            System.gc();
            long now = rt.totalMemory() - rt.freeMemory();
            boolean settled = used - now < SETTLED_BYTES;
            used = Math.min(used, now);
            if (settled) {
                break;
            }
        }
        Map<String, Integer> byName = new TreeMap<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            byName.merge(t.getName().replaceAll("\\d+", "N"), 1, Integer::sum);
        }
        int threads = byName.values().stream().mapToInt(Integer::intValue).sum();
        return new Jvm(used, threads, byName, openFiles());
    }

    private static int openFiles() {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return (int) fds.count();
        } catch (IOException e) {
            return -1;
        }
    }

    /**
     * One process, from {@code /proc/<pid>/status} and {@code smaps_rollup}.
     *
     * @param rssKib {@code VmRSS}: resident pages, shared ones (the binary, libraries) counted in full
     * @param pssKib {@code Pss}: shared pages divided among the processes that map them; sums to the real total
     * @param threads {@code Threads}
     */
    record Process(long rssKib, long pssKib, int threads) {}

    /** Reads a live process; fails when it is gone. */
    static Process process(long pid) {
        Path proc = Path.of("/proc", Long.toString(pid));
        try {
            String status = Files.readString(proc.resolve("status"));
            long pss = 0;
            try {
                pss = field(Files.readString(proc.resolve("smaps_rollup")), "Pss:");
            } catch (NoSuchFileException e) {
                // kernels before 4.14 have no smaps_rollup: PSS stays 0
            }
            return new Process(field(status, "VmRSS:"), pss, (int) field(status, "Threads:"));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read /proc of process " + pid + " (did it exit?): " + e, e);
        }
    }

    /**
     * CPU time used so far: by the whole host (all cores, from {@code /proc/stat}), by
     * this JVM, and by the given VMM processes together.
     *
     * @param hostBusyNanos host CPU time not idle (nor waiting for IO), all processes and the kernel
     * @param hostIdleNanos host CPU time idle or waiting for IO
     * @param jvmNanos this JVM
     * @param vmmNanos the VMM processes (those that have exited count nothing)
     * @param at when, in {@link System#nanoTime()}
     */
    record Cpu(long hostBusyNanos, long hostIdleNanos, long jvmNanos, long vmmNanos, long at) {}

    /** How much CPU time has been used so far; see {@link Cpu}. */
    static Cpu cpu(long... vmmPids) {
        long busy = 0;
        long idle = 0;
        try {
            String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
            // cpu user nice system idle iowait irq softirq steal ...; guest time is already in user
            for (int i = 1; i < Math.min(f.length, 9); i++) {
                long ticks = Long.parseLong(f[i]);
                if (i == 4 || i == 5) {
                    idle += ticks;
                } else {
                    busy += ticks;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: host figures stay 0
        }
        long vmm = 0;
        for (long pid : vmmPids) {
            vmm += ProcessHandle.of(pid).flatMap(h -> h.info().totalCpuDuration()).map(Duration::toNanos).orElse(0L);
        }
        long jvm = ProcessHandle.current().info().totalCpuDuration().map(Duration::toNanos).orElse(0L);
        return new Cpu(busy * NANOS_PER_TICK, idle * NANOS_PER_TICK, jvm, vmm, System.nanoTime());
    }

    /** The number after {@code key} on its line ({@code VmRSS:   41236 kB}). */
    private static long field(String text, String key) {
        for (String line : text.split("\n")) {
            if (line.startsWith(key)) {
                return Long.parseLong(line.substring(key.length()).strip().split("\\s+")[0]);
            }
        }
        throw new IllegalStateException("no " + key + " line");
    }
}
