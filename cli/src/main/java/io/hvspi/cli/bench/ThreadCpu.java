package io.hvspi.cli.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.DirectoryStream;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * A host thread's CPU time, and the host's load, from {@code /proc/<pid>/task/<tid>/stat}: user plus
 * system time ({@code utime} and {@code stime}, fields 14 and 15), in clock ticks of
 * {@value #TICKS_PER_SECOND} per second ({@code USER_HZ}, which Linux fixes at 100
 * for {@code /proc} on x86 whatever the kernel's own tick rate).
 */
final class ThreadCpu {
    static final int TICKS_PER_SECOND = 100;
    private static final Pattern DIGITS = Pattern.compile("\\d+");

    private ThreadCpu() {}

    /** The thread's CPU time so far in ticks, or empty when it has ended. */
    static OptionalLong ticks(long pid, long tid) {
        Path stat = Path.of("/proc", Long.toString(pid), "task", Long.toString(tid), "stat");
        try {
            return OptionalLong.of(parse(Files.readString(stat, StandardCharsets.US_ASCII)));
        } catch (IOException e) {
            // ENOENT, or ESRCH for a thread that ends while its file is read
            return OptionalLong.empty();
        }
    }

    /**
     * utime + stime from a stat line. The second field, the thread's name in
     * parentheses, may itself hold spaces and parentheses ({@code (CPU 0/TCG)}), so
     * the fields are counted from the last {@code )}.
     */
    static long parse(String stat) {
        int close = stat.lastIndexOf(')');
        if (close < 0) {
            throw new IllegalArgumentException("not a /proc stat line: " + stat);
        }
        // after ") ": field 3 (state) is index 0, so utime (14) is index 11 and stime (15) index 12
        String[] fields = stat.substring(close + 2).strip().split(" ");
        return Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
    }

    /**
     * This JVM's threads' CPU time so far in nanoseconds, summed by thread name (the
     * kernel's {@code comm}: the Java name cut to 15 characters), digits replaced by
     * {@code N}. From each thread's {@code schedstat} (time on a CPU, in ns): {@code stat}
     * counts in 10 ms ticks, truncated per thread, which loses most of what 32 threads
     * doing 16 short operations each use. A thread that has ended no longer counts.
     */
    static Map<String, Long> jvmByName() {
        Map<String, Long> byName = new TreeMap<>();
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
            for (Path task : tasks) {
                try {
                    String comm = Files.readString(task.resolve("comm"), StandardCharsets.US_ASCII).strip();
                    long nanos = Long.parseLong(Files.readString(task.resolve("schedstat"), StandardCharsets.US_ASCII)
                            .split(" ", 2)[0].strip());
                    byName.merge(DIGITS.matcher(comm).replaceAll("N"), nanos, Long::sum);
                } catch (IOException | RuntimeException e) {
                    // the thread ended meanwhile, or the kernel has no schedstat
                }
            }
        } catch (IOException e) {
            // not Linux: nothing to report
        }
        return byName;
    }

    /**
     * Milliseconds of CPU per operation by thread name between two {@link #jvmByName()}
     * readings, largest first, names under 1 us per operation left out.
     */
    static Map<String, Double> perOperationMs(Map<String, Long> before, Map<String, Long> after, int operations) {
        Map<String, Double> out = new LinkedHashMap<>();
        if (operations <= 0) {
            return out;
        }
        after.entrySet().stream()
                .map(e -> Map.entry(e.getKey(), e.getValue() - before.getOrDefault(e.getKey(), 0L)))
                .filter(e -> e.getValue() >= 1000L * operations)
                .sorted(Map.Entry.<String, Long>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()))
                .forEach(e -> out.put(e.getKey(), ScaleReport.round(e.getValue() / 1e6 / operations)));
        return out;
    }

    static double seconds(long ticks) {
        return (double) ticks / TICKS_PER_SECOND;
    }

    /** The host's 1-minute load average ({@code /proc/loadavg}), or -1 when unreadable. */
    static double loadAverage() {
        try {
            return Double.parseDouble(Files.readString(Path.of("/proc/loadavg"), StandardCharsets.US_ASCII)
                    .split(" ", 2)[0]);
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
    }
}
