package io.hvspi.kit.threads;

import io.hvspi.spi.CpuSet;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * A process's threads as the host sees them: {@code /proc/<pid>/task/<tid>/comm}.
 * A thread that ends while being read is left out. Plugins turn these into
 * {@link io.hvspi.spi.HostThreads} by their VMM's thread names.
 */
public final class ProcTasks {
    /** Linux's TASK_COMM_LEN less the terminating NUL: names longer than this are cut. */
    public static final int COMM_LENGTH = 15;

    /** One thread: its id and its (possibly truncated) name. */
    public record Task(long tid, String comm) {}

    private final Path proc;
    /** {@code proc} as text with a slash after it: a status path is built as one string, not resolved part by part. */
    private final String procSlash;

    public ProcTasks(Path proc) {
        this.proc = proc;
        this.procSlash = proc.toString().endsWith("/") ? proc.toString() : proc + "/";
    }

    /** The real {@code /proc}. */
    public static ProcTasks system() {
        return new ProcTasks(Path.of("/proc"));
    }

    /** The name Linux shows for a thread named {@code name}: its first 15 bytes. */
    public static String comm(String name) {
        byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        return bytes.length <= COMM_LENGTH ? name : new String(bytes, 0, COMM_LENGTH, StandardCharsets.UTF_8);
    }

    /** False where the process is not visible here (gone, or in another pid namespace). */
    public boolean visible(long pid) {
        return Files.isDirectory(tasks(pid));
    }

    /**
     * Every thread of {@code pid}, by thread id.
     *
     * @throws VmmUnavailableException {@code EXITED} when the process is gone
     */
    public List<Task> list(long pid) {
        Path tasks = tasks(pid);
        List<Task> found = new ArrayList<>();
        try (DirectoryStream<Path> dir = Files.newDirectoryStream(tasks)) {
            for (Path task : dir) {
                long tid;
                try {
                    tid = Long.parseLong(task.getFileName().toString());
                } catch (NumberFormatException e) {
                    continue;
                }
                comm(pid, tid).ifPresent(name -> found.add(new Task(tid, name)));
            }
        } catch (NoSuchFileException e) {
            throw new VmmUnavailableException(Reason.EXITED, "process " + pid + " is gone (no " + tasks + ")");
        } catch (IOException e) {
            throw new VmmUnavailableException(Reason.EXITED, "cannot read " + tasks + ": " + e.getMessage(), e);
        }
        found.sort(Comparator.comparingLong(Task::tid));
        return found;
    }

    /** The name of one thread, empty when it has ended (or never was). */
    public Optional<String> comm(long pid, long tid) {
        try {
            return Optional.of(Files.readString(tasks(pid).resolve(Long.toString(tid)).resolve("comm"),
                    StandardCharsets.UTF_8).strip());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /**
     * The kernel's view of a thread's CPU set: {@code Cpus_allowed_list} in
     * {@code /proc/PID/task/TID/status}; empty when the thread has ended.
     */
    public Optional<CpuSet> affinity(long pid, long tid) {
        try {
            // read on every IOThread listing: the path as one string (not four resolved Paths), a plain
            // stream (no NIO channel) and a search, not a line decoder
            String status;
            try (InputStream in = new FileInputStream(procSlash + pid + "/task/" + tid + "/status")) {
                status = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
            }
            int at = status.indexOf("\nCpus_allowed_list:");
            if (at < 0) {
                return Optional.empty();
            }
            int start = at + "\nCpus_allowed_list:".length();
            int end = status.indexOf('\n', start);
            return Optional.of(CpuSet.parse(status.substring(start, end < 0 ? status.length() : end).strip()));
        } catch (IOException | IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /**
     * The lines of {@code /proc/PID/task/TID/cgroup} ({@code ID:CONTROLLERS:PATH}, one per
     * hierarchy); empty when the thread has ended.
     */
    public List<String> cgroups(long pid, long tid) {
        try {
            return Files.readAllLines(task(pid, tid).resolve("cgroup"), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return List.of();
        }
    }

    private Path task(long pid, long tid) {
        return tasks(pid).resolve(Long.toString(tid));
    }

    private Path tasks(long pid) {
        return proc.resolve(Long.toString(pid)).resolve("task");
    }
}
