package io.hvspi.core.state;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * Who a VMM process is: a pid alone is not, since the kernel reuses pids. The
 * pair (pid, start time) names one process for the life of the host; the
 * executable tells a VMM from whatever else runs.
 *
 * @param pid the process id
 * @param startTime field 22 of {@code /proc/PID/stat}: clock ticks after boot when it started
 * @param exe the target of {@code /proc/PID/exe} when it was recorded
 */
public record VmmIdentity(long pid, long startTime, Path exe) {
    private static final Path PROC = Path.of("/proc");
    /** What the kernel appends to {@code /proc/PID/exe} once the binary was replaced (a package upgrade). */
    private static final String DELETED = " (deleted)";

    public VmmIdentity {
        if (pid <= 0) {
            throw new IllegalArgumentException("pid must be positive, was " + pid);
        }
        Objects.requireNonNull(exe, "exe");
    }

    /**
     * The identity of the live process {@code pid} read from {@code /proc}; empty when
     * there is none, it is a zombie, or its executable cannot be read.
     */
    public static Optional<VmmIdentity> ofPid(long pid) {
        if (pid <= 0) {
            return Optional.empty();
        }
        Path dir = PROC.resolve(Long.toString(pid));
        try {
            Optional<Stat> stat = Stat.read(dir);
            if (stat.isEmpty() || stat.get().dead()) {
                return Optional.empty();
            }
            Path exe = exeOf(dir);
            // read again: the pid may have been reused between the two reads
            Optional<Stat> again = Stat.read(dir);
            if (again.isEmpty() || again.get().startTime() != stat.get().startTime()) {
                return Optional.empty();
            }
            return Optional.of(new VmmIdentity(pid, stat.get().startTime(), exe));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static Path exeOf(Path procDir) throws IOException {
        String target = Files.readSymbolicLink(procDir.resolve("exe")).toString();
        return Path.of(target.endsWith(DELETED) ? target.substring(0, target.length() - DELETED.length()) : target);
    }

    /** The state letter and start time from {@code /proc/PID/stat}. */
    record Stat(char state, long startTime) {
        boolean dead() {
            return state == 'Z' || state == 'X' || state == 'x';
        }

        static Optional<Stat> read(Path procDir) {
            String line;
            try {
                // ISO-8859-1 reads any byte a command name may hold
                line = Files.readString(procDir.resolve("stat"), StandardCharsets.ISO_8859_1);
            } catch (IOException e) {
                return Optional.empty(); // gone, or exiting while read (ESRCH)
            }
            // the command name (field 2) may hold spaces and ')': fields 3.. follow its last ')'
            String[] f = line.substring(line.lastIndexOf(')') + 2).trim().split(" ");
            return Optional.of(new Stat(f[0].charAt(0), Long.parseLong(f[22 - 3])));
        }
    }
}
