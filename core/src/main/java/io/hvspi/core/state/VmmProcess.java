package io.hvspi.core.state;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Pattern;

/**
 * A VMM process as hvspi knows it: an {@link VmmIdentity} and the runtime
 * directory it was started for. Nothing is signalled unless, just before the
 * signal, the live process with that pid has the recorded start time and
 * executable and a command line that refers to the runtime directory.
 *
 * <p><b>Referring to a runtime directory</b> (the strict rule, shared by
 * {@link #verify} and {@link #findByRuntimeDir}): some argument after
 * {@code argv[0]} holds a value that, as an absolute and normalised path, is the
 * directory or lies inside it. The values of an argument are the argument itself
 * and, read as a QEMU option list ({@code socket,id=qmp,path=/run/x/qmp.sock}:
 * split at single commas, {@code ,,} is a literal comma), the value after
 * {@code key=} of each part, with a {@code unix:}-style scheme removed. Paths
 * compare by whole names, so {@code /run/hvspi/vm10/q.sock} is not inside
 * {@code /run/hvspi/vm1}, a path merely containing the directory in its middle
 * ({@code /x/run/hvspi/vm1}) is not either, and neither is a shell string
 * that mentions it ({@code "sleep 1; ls /run/hvspi/vm1"}).
 *
 * <p>A scan accepts only executables that are the recorded one or look like a
 * VMM ({@link #PLAUSIBLE_VMM}), and never this process or its ancestors (the
 * {@code hvctl} that runs the scan may name the directory in its own arguments).
 */
public final class VmmProcess {
    /** Executables a scan accepts when no executable was recorded. */
    static final Pattern PLAUSIBLE_VMM = Pattern.compile(
            "qemu-system-[A-Za-z0-9_]+|qemu-kvm|cloud-hypervisor(-static)?|dragonball|firecracker");
    private static final Path PROC = Path.of("/proc");
    private static final long MAX_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

    /** What the live process with a recorded pid is, compared with the record. */
    public enum Verdict {
        /** The recorded process runs: same start time, executable, runtime directory. */
        SAME,
        /** No process has that pid, or one with another start time does: the recorded process ended. */
        GONE,
        /** The pid and start time match but the executable or command line do not: the record lies. */
        MISMATCH
    }

    private final VmmIdentity identity;
    private final Path runtimeDir;

    public VmmProcess(VmmIdentity identity, Path runtimeDir) {
        this.identity = identity;
        this.runtimeDir = runtimeDir.toAbsolutePath().normalize();
    }

    public VmmIdentity identity() {
        return identity;
    }

    public Path runtimeDir() {
        return runtimeDir;
    }

    /** Compares the live process with that pid against the recorded identity and runtime directory. */
    public Verdict verify() {
        Optional<VmmIdentity> live = VmmIdentity.ofPid(identity.pid());
        if (live.isEmpty() || live.get().startTime() != identity.startTime()) {
            return Verdict.GONE;
        }
        // the same process (pid and start time) may have exec'd since it was recorded: a launcher such as
        // setsid or a wrapper script becoming the VMM is still this VMM; any other change of executable is not
        if (!live.get().exe().equals(identity.exe())
                && (isPlausibleVmm(identity.exe()) || !isPlausibleVmm(live.get().exe()))) {
            return Verdict.MISMATCH;
        }
        return commandLine(identity.pid()).filter(argv -> refersTo(argv, runtimeDir)).isPresent()
                ? Verdict.SAME : Verdict.MISMATCH;
    }

    /** Whether the recorded process is alive and proven to be the VMM of its runtime directory. */
    public boolean isAlive() {
        return verify() == Verdict.SAME;
    }

    /**
     * Ends the process: SIGTERM, wait up to {@code grace}; then SIGKILL, wait up to
     * {@code grace} again. Each signal goes only to a process that {@link #verify}
     * proves to be this VMM right before it.
     *
     * @return whether the process is proven gone ({@link Verdict#GONE}); false when it
     *         still runs or the pid now belongs to a process that is not this VMM
     */
    public boolean terminate(Duration grace) {
        for (boolean force : new boolean[] {false, true}) {
            Verdict v = verify();
            if (v != Verdict.SAME) {
                return v == Verdict.GONE;
            }
            Optional<ProcessHandle> handle = ProcessHandle.of(identity.pid());
            if (handle.isEmpty()) {
                continue; // exited between the check and here: the next verify says so
            }
            if (force) {
                handle.get().destroyForcibly();
            } else {
                handle.get().destroy();
            }
            if (awaitNot(Verdict.SAME, grace)) {
                return verify() == Verdict.GONE;
            }
        }
        return verify() == Verdict.GONE;
    }

    /** Polls until {@link #verify} is no longer {@code state}, up to {@code timeout}. */
    private boolean awaitNot(Verdict state, Duration timeout) {
        long deadline = VmLock.deadline(timeout);
        long pause = TimeUnit.MICROSECONDS.toNanos(500);
        while (verify() == state) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            LockSupport.parkNanos(Math.min(pause, left));
            pause = Math.min(pause * 2, MAX_POLL_NANOS);
        }
        return true;
    }

    /**
     * The VMM processes whose command line refers to {@code runtimeDir} (see the class
     * comment), whose executable is {@code exe} when given or else a plausible VMM,
     * excluding this process and its ancestors. Used when a record is corrupt or lacks a pid.
     */
    public static List<VmmProcess> findByRuntimeDir(Path runtimeDir, Optional<Path> exe) {
        Path dir = runtimeDir.toAbsolutePath().normalize();
        Set<Long> ourselves = new HashSet<>();
        for (Optional<ProcessHandle> p = Optional.of(ProcessHandle.current()); p.isPresent(); p = p.get().parent()) {
            ourselves.add(p.get().pid());
        }
        List<VmmProcess> found = new ArrayList<>();
        try (DirectoryStream<Path> procs = Files.newDirectoryStream(PROC, p -> isPid(p.getFileName().toString()))) {
            for (Path p : procs) {
                long pid = Long.parseLong(p.getFileName().toString());
                if (ourselves.contains(pid)) {
                    continue;
                }
                Optional<List<String>> argv = commandLine(pid);
                if (argv.isEmpty() || !refersTo(argv.get(), dir)) {
                    continue;
                }
                VmmIdentity.ofPid(pid)
                        .filter(id -> exe.map(id.exe()::equals).orElseGet(() -> isPlausibleVmm(id.exe())))
                        .map(id -> new VmmProcess(id, dir))
                        .filter(VmmProcess::isAlive)
                        .ifPresent(found::add);
            }
        } catch (IOException e) {
            throw new io.hvspi.spi.HvspiException("cannot scan /proc for the VMM of " + dir + ": " + e.getMessage(), e);
        }
        return found;
    }

    static boolean isPlausibleVmm(Path exe) {
        Path name = exe.getFileName();
        return name != null && PLAUSIBLE_VMM.matcher(name.toString()).matches();
    }

    private static boolean isPid(String name) {
        if (name.isEmpty() || name.length() > 10) {
            return false;
        }
        for (int i = 0; i < name.length(); i++) {
            if (!Character.isDigit(name.charAt(i))) {
                return false;
            }
        }
        return true;
    }

    /** {@code /proc/PID/cmdline} split at NULs; empty when the process is gone or a kernel thread. */
    static Optional<List<String>> commandLine(long pid) {
        byte[] raw;
        try {
            raw = Files.readAllBytes(PROC.resolve(Long.toString(pid)).resolve("cmdline"));
        } catch (IOException e) {
            return Optional.empty();
        }
        if (raw.length == 0) {
            return Optional.empty();
        }
        List<String> argv = new ArrayList<>();
        int start = 0;
        for (int i = 0; i <= raw.length; i++) {
            if (i == raw.length || raw[i] == 0) {
                if (i > start || i < raw.length) {
                    argv.add(new String(raw, start, i - start, StandardCharsets.UTF_8));
                }
                start = i + 1;
            }
        }
        return Optional.of(argv);
    }

    /** The strict rule of the class comment, over {@code argv[1..]}. */
    static boolean refersTo(List<String> argv, Path dir) {
        for (int i = 1; i < argv.size(); i++) {
            for (String value : valuesOf(argv.get(i))) {
                if (isInside(value, dir)) {
                    return true;
                }
            }
        }
        return false;
    }

    private static List<String> valuesOf(String arg) {
        List<String> values = new ArrayList<>();
        values.add(arg);
        for (String part : splitOptionList(arg)) {
            int eq = part.indexOf('=');
            String value = eq >= 0 ? part.substring(eq + 1) : part;
            values.add(value);
            int colon = value.indexOf(':');
            if (colon > 0 && !value.startsWith("/")) {
                values.add(value.substring(colon + 1)); // unix:/path, file:/path
            }
        }
        return values;
    }

    /** Splits at single commas; {@code ,,} stands for one comma inside a value (QEMU's escape). */
    private static List<String> splitOptionList(String arg) {
        List<String> parts = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (int i = 0; i < arg.length(); i++) {
            char c = arg.charAt(i);
            if (c == ',' && i + 1 < arg.length() && arg.charAt(i + 1) == ',') {
                cur.append(',');
                i++;
            } else if (c == ',') {
                parts.add(cur.toString());
                cur.setLength(0);
            } else {
                cur.append(c);
            }
        }
        parts.add(cur.toString());
        return parts;
    }

    private static boolean isInside(String value, Path dir) {
        if (!value.startsWith("/") || value.indexOf('\0') >= 0) {
            return false;
        }
        try {
            return Path.of(value).normalize().startsWith(dir);
        } catch (java.nio.file.InvalidPathException e) {
            return false;
        }
    }

    @Override
    public String toString() {
        return "VMM pid " + identity.pid() + " (" + identity.exe() + ")";
    }
}
