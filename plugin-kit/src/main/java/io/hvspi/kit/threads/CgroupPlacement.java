package io.hvspi.kit.threads;

import io.hvspi.spi.CpuSet;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.VmSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Places host threads into a cgroup the caller names, in whichever hierarchy the
 * host has:
 *
 * <ul>
 *   <li><b>cgroup v2</b> (the unified hierarchy is {@code /sys/fs/cgroup} itself):
 *       the group is a <i>threaded</i> cgroup ({@code cgroup.type} = {@code threaded}),
 *       threads go into {@code cgroup.threads}. The kernel accepts a thread only when
 *       the group lies in its process's threaded subtree, i.e. below the VMM
 *       process's own cgroup.</li>
 *   <li><b>cgroup v1</b> with the {@code cpuset} controller mounted at
 *       {@code /sys/fs/cgroup/cpuset}: a group hvspi creates gets {@code cpuset.cpus}
 *       (the CPU set asked for, else the parent's) and {@code cpuset.mems} (the
 *       parent's), without which the kernel refuses tasks; threads go into
 *       {@code tasks}.</li>
 * </ul>
 *
 * Paths are relative to the hierarchy's root, checked by
 * {@link VmSpec.ThreadPlacement#checkCgroup}. Entering a cpuset cgroup resets a
 * thread's affinity to the group's CPUs, so a caller places first and pins after.
 */
public final class CgroupPlacement {
    /** Which kind of hierarchy threads are placed in. */
    public enum Mode {
        V2_THREADED,
        V1_CPUSET
    }

    private final Mode mode;
    private final Path root;

    private CgroupPlacement(Mode mode, Path root) {
        this.mode = mode;
        this.root = root;
    }

    /** The host's hierarchy under {@code /sys/fs/cgroup}; empty when it has neither v2 nor a v1 cpuset. */
    public static Optional<CgroupPlacement> detect() {
        return detect(Path.of("/sys/fs/cgroup"));
    }

    /** As {@link #detect()}, under another mount root. */
    public static Optional<CgroupPlacement> detect(Path cgroupRoot) {
        if (Files.isRegularFile(cgroupRoot.resolve("cgroup.controllers"))) {
            return Optional.of(new CgroupPlacement(Mode.V2_THREADED, cgroupRoot));
        }
        Path cpuset = cgroupRoot.resolve("cpuset");
        if (Files.isRegularFile(cpuset.resolve("tasks")) && Files.isRegularFile(cpuset.resolve("cpuset.cpus"))) {
            return Optional.of(new CgroupPlacement(Mode.V1_CPUSET, cpuset));
        }
        return Optional.empty();
    }

    /** The host's hierarchy, or an error saying that it has none hvspi can use. */
    public static CgroupPlacement require() {
        return detect().orElseThrow(() -> new HvspiException("this host has neither a cgroup v2 hierarchy at"
                + " /sys/fs/cgroup nor a cgroup v1 cpuset controller at /sys/fs/cgroup/cpuset: threads cannot be"
                + " placed into a cgroup"));
    }

    public Mode mode() {
        return mode;
    }

    /** The directory of a cgroup path such as {@code /kata/io}. */
    public Path directory(String cgroup) {
        VmSpec.ThreadPlacement.checkCgroup(cgroup, "cgroup");
        return root.resolve(cgroup.substring(1));
    }

    /**
     * Creates the group and any missing parent; a group that exists is used as it is
     * (its CPU set is then the operator's). For v1, {@code cpus} becomes the new
     * group's {@code cpuset.cpus}; the kernel refuses CPUs its parent lacks.
     */
    public void prepare(String cgroup, Optional<CpuSet> cpus) {
        Path dir = directory(cgroup);
        List<Path> missing = new ArrayList<>();
        for (Path p = dir; !p.equals(root) && !Files.isDirectory(p); p = p.getParent()) {
            missing.add(0, p);
        }
        for (Path p : missing) {
            try {
                Files.createDirectory(p);
            } catch (IOException e) {
                throw new HvspiException("cannot create cgroup directory " + p + ": " + e.getMessage(), e);
            }
            if (mode == Mode.V2_THREADED) {
                write(p.resolve("cgroup.type"), "threaded");
            } else {
                Path parent = p.getParent();
                boolean leaf = p.equals(dir);
                write(p.resolve("cpuset.cpus"), leaf && cpus.isPresent() ? cpus.get().toString()
                        : read(parent.resolve("cpuset.cpus")));
                write(p.resolve("cpuset.mems"), read(parent.resolve("cpuset.mems")));
            }
        }
    }

    /** Moves one thread into the group (which must exist: see {@link #prepare}). */
    public void place(String cgroup, long tid) {
        Path dir = directory(cgroup);
        write(dir.resolve(mode == Mode.V2_THREADED ? "cgroup.threads" : "tasks"), Long.toString(tid));
    }

    /** The tids in the group, as the kernel lists them. */
    public List<Long> threads(String cgroup) {
        Path dir = directory(cgroup);
        String text = read(dir.resolve(mode == Mode.V2_THREADED ? "cgroup.threads" : "tasks"));
        return text.isEmpty() ? List.of() : Arrays.stream(text.split("\n")).map(String::strip)
                .filter(s -> !s.isEmpty()).map(Long::parseLong).toList();
    }

    /** The group's CPUs as the kernel applies them ({@code cpuset.effective_cpus}), when the file exists. */
    public Optional<CpuSet> effectiveCpus(String cgroup) {
        Path f = directory(cgroup).resolve("cpuset.effective_cpus");
        if (!Files.isRegularFile(f)) {
            return Optional.empty();
        }
        String text = read(f);
        return text.isEmpty() ? Optional.empty() : Optional.of(CpuSet.parse(text));
    }

    /** Removes an empty group (the kernel refuses one that still has threads or children). */
    public void remove(String cgroup) {
        Path dir = directory(cgroup);
        try {
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            throw new HvspiException("cannot remove cgroup " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Where a thread is in this hierarchy, from {@code /proc/PID/task/TID/cgroup}: the
     * v2 line ({@code 0::PATH}), else the v1 line whose controllers include {@code cpuset}.
     */
    public Optional<String> where(ProcTasks proc, long pid, long tid) {
        return where(proc.cgroups(pid, tid), mode);
    }

    static Optional<String> where(List<String> lines, Mode mode) {
        for (String line : lines) {
            String[] f = line.split(":", 3);
            if (f.length < 3) {
                continue;
            }
            boolean match = mode == Mode.V2_THREADED ? f[0].equals("0") && f[1].isEmpty()
                    : Arrays.asList(f[1].split(",")).contains("cpuset");
            if (match) {
                return Optional.of(f[2]);
            }
        }
        return Optional.empty();
    }

    private static void write(Path file, String value) {
        try {
            Files.writeString(file, value, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new HvspiException("cannot write \"" + value + "\" to " + file + ": " + e.getMessage(), e);
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.US_ASCII).strip();
        } catch (IOException e) {
            throw new HvspiException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }
}
