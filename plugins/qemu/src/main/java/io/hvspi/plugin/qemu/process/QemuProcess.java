package io.hvspi.plugin.qemu.process;

import io.hvspi.kit.log.LogTail;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;

/**
 * A QEMU process: spawned from an argument list (stdin from {@code /dev/null},
 * stdout and stderr appended to the runtime directory's log), or adopted by pid
 * when another process started it. QEMU is a child, not daemonised, so its exit
 * is seen at once; it runs in a session of its own ({@code setsid}, which execs
 * QEMU in place), so Ctrl-C or a hang-up meant for a foreground hvctl never
 * reaches a VM kept with {@code --keep}, and it outlives the JVM.
 */
public final class QemuProcess {
    private final ProcessHandle handle;
    private final RuntimeLayout layout;

    private QemuProcess(ProcessHandle handle, RuntimeLayout layout) {
        this.handle = handle;
        this.layout = layout;
    }

    /** Starts QEMU; the runtime directory must exist. */
    public static QemuProcess spawn(List<String> argv, RuntimeLayout layout) {
        ProcessBuilder pb = new ProcessBuilder(inOwnSession(argv))
                .directory(layout.dir().toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.appendTo(layout.qemuLog().toFile()))
                .redirectErrorStream(true);
        try {
            createPrivateFile(layout.qemuLog());
            // QEMU opens the console log with the umask's mode, but keeps the mode of a file that exists
            createPrivateFile(layout.consoleLog());
            createPrivateFile(layout.eventsJournal());
            return new QemuProcess(pb.start().toHandle(), layout);
        } catch (IOException e) {
            throw new HvspiException("cannot start " + argv.get(0) + ": " + e.getMessage(), e);
        }
    }

    /**
     * Creates an empty file of mode 0600 whatever the umask: created with that mode
     * (which the umask can only narrow), then set exactly. An existing file is replaced.
     */
    public static void createPrivateFile(Path file) throws IOException {
        Files.deleteIfExists(file);
        createPrivateFileIfAbsent(file);
    }

    /** The same, but a file (or link) that exists is left as it is. */
    public static void createPrivateFileIfAbsent(Path file) throws IOException {
        try {
            Files.createFile(file, PosixFilePermissions.asFileAttribute(PRIVATE_FILE));
        } catch (FileAlreadyExistsException e) {
            return;
        }
        Files.setPosixFilePermissions(file, PRIVATE_FILE);
    }

    private static final java.util.Set<java.nio.file.attribute.PosixFilePermission> PRIVATE_FILE =
            PosixFilePermissions.fromString("rw-------");

    /** util-linux's setsid execs without forking when, as here, the caller leads no process group. */
    static List<String> inOwnSession(List<String> argv) {
        if (!Files.isExecutable(SETSID)) {
            return argv;
        }
        List<String> wrapped = new java.util.ArrayList<>(argv.size() + 1);
        wrapped.add(SETSID.toString());
        wrapped.addAll(argv);
        return wrapped;
    }

    private static final Path SETSID = Path.of("/usr/bin/setsid");

    /**
     * The QEMU process with this pid, if it is alive and really is the one this
     * runtime directory's VM runs: the same start time ({@code /proc/PID/stat}) when
     * one was recorded, the expected executable ({@code /proc/PID/exe}), and a command
     * line that names the QMP socket. A reused pid, or another process whose command
     * line merely mentions the socket, is never mistaken for it.
     *
     * @param identity the recorded start time and executable; empty for a record that has none (format 1),
     *                 when only the executable is checked, against {@code binary}
     * @param binary the QEMU binary the VM was started with
     */
    public static Optional<QemuProcess> adopt(long pid, RuntimeLayout layout, Optional<QemuState.QemuIdentity> identity,
                                              Path binary) {
        if (pid <= 0) {
            return Optional.empty();
        }
        return ProcessHandle.of(pid)
                .filter(ProcessHandle::isAlive)
                .filter(h -> identity.map(i -> startTime(pid).orElse(-1) == i.startTime()).orElse(true))
                .filter(h -> executable(pid).equals(identity.map(QemuState.QemuIdentity::executable)
                        .orElseGet(() -> realPath(binary))))
                .filter(h -> commandLine(pid).contains(layout.qmpSocket().toString()))
                .map(h -> new QemuProcess(h, layout));
    }

    /** This process's identity, for the state: its start time and the binary's real path. */
    public QemuState.QemuIdentity identity(Path binary) {
        return new QemuState.QemuIdentity(startTime(pid()).orElse(-1), realPath(binary));
    }

    /**
     * As {@link #identity}, with the executable the process runs now ({@code /proc/PID/exe}):
     * once QEMU opened its sockets, that is QEMU even when {@code binary} is a wrapper that
     * execs it. Falls back to {@code binary}'s real path when {@code /proc} cannot tell.
     */
    public QemuState.QemuIdentity runningIdentity(Path binary) {
        String exe = executable(pid());
        return new QemuState.QemuIdentity(startTime(pid()).orElse(-1), exe.isEmpty() ? realPath(binary) : exe);
    }

    /** Field 22 of {@code /proc/PID/stat}: the start time in clock ticks after boot. */
    static OptionalLong startTime(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.UTF_8);
            // the command name (field 2) is in parentheses and may hold spaces: count from the last ')'
            String[] rest = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return OptionalLong.of(Long.parseLong(rest[19]));
        } catch (IOException | RuntimeException e) {
            return OptionalLong.empty();
        }
    }

    /** True when the process is stopped (SIGSTOP; state {@code T}): SIGTERM would wait for a SIGCONT. */
    public boolean isStopped() {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid()), "stat"), StandardCharsets.UTF_8);
            char state = stat.charAt(stat.lastIndexOf(')') + 2);
            return state == 'T' || state == 't';
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** The real path of the process's executable; a binary replaced on disk since counts as the same path. */
    static String executable(long pid) {
        try {
            String exe = Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "exe")).toString();
            return exe.endsWith(" (deleted)") ? exe.substring(0, exe.length() - " (deleted)".length()) : exe;
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }

    private static String realPath(Path binary) {
        try {
            return binary.toRealPath().toString();
        } catch (IOException e) {
            return binary.toAbsolutePath().normalize().toString();
        }
    }

    private static String commandLine(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")),
                    StandardCharsets.UTF_8).replace('\0', ' ');
        } catch (IOException e) {
            return "";
        }
    }

    public long pid() {
        return handle.pid();
    }

    public boolean isAlive() {
        return handle.isAlive();
    }

    /**
     * Waits until the QMP, console and events sockets exist, then makes them private (0600):
     * QEMU binds them with the umask's mode. Fails at once when QEMU exits first (with
     * the last line QEMU printed), or after {@code timeout}.
     */
    public void awaitSocket(Duration timeout) {
        awaitSocket(layout.qmpSocket(), timeout);
        // QEMU creates its chardevs in command-line order: the console's right after the QMP one
        awaitSocket(layout.consoleSocket(), timeout);
        awaitSocket(layout.eventsSocket(), timeout);
        makePrivate(layout.qmpSocket());
        makePrivate(layout.consoleSocket());
        makePrivate(layout.eventsSocket());
    }

    private void awaitSocket(Path socket, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        // 0.1 ms, doubling up to 0.25 ms: QEMU opens the socket 20 to 40 ms after spawn, and a start waits
        // on average half the last pause beyond it (a 5 ms cap cost about 2.5 ms of every start, a 1 ms one
        // 0.5 ms); about 150 looks, a few microseconds each
        long pause = 100_000;
        while (!Files.exists(socket)) {
            if (!handle.isAlive()) {
                throw new VmmUnavailableException(Reason.EXITED,
                        "QEMU exited before opening its socket " + socket.getFileName() + ": " + lastLogLine());
            }
            if (System.nanoTime() > deadline) {
                throw new VmmUnavailableException(Reason.TIMED_OUT,
                        "QEMU did not open its socket " + socket + " within " + timeout.toMillis() + " ms");
            }
            LockSupport.parkNanos(pause);
            pause = Math.min(pause * 2, 250_000);
        }
    }

    /** Sets a socket or file QEMU created to 0600: QEMU uses the umask's mode; the 0700 directory already shuts others out. */
    public static void makePrivate(Path file) {
        try {
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot make " + file + " private: " + e.getMessage(), e);
        }
    }

    /**
     * Waits up to {@code timeout} for the process to end; true when it did. An interrupt does not cut
     * the wait short (a stop from an interrupted thread would take a dying QEMU for a survivor); it is
     * kept for the caller.
     */
    public boolean waitForExit(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    handle.onExit().get(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
                    return true;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        } catch (TimeoutException e) {
            return false;
        } catch (ExecutionException e) {
            return !handle.isAlive();
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * SIGKILL, then waits up to {@code timeout} for the process to go. The handle
     * carries the start time the JDK read when it was made, and the JDK signals only
     * a process with that pid and that start time: a pid reused since is left alone.
     */
    public boolean kill(Duration timeout) {
        handle.destroyForcibly();
        return waitForExit(timeout);
    }

    /** SIGTERM (QEMU exits cleanly on it), then waits up to {@code timeout}; as safe as {@link #kill}. */
    public boolean terminate(Duration timeout) {
        handle.destroy();
        return waitForExit(timeout);
    }

    /** The last non-empty line QEMU wrote to its log, or a note that there is none. */
    public String lastLogLine() {
        return lastLogLine(layout.qemuLog());
    }

    /** The last non-empty line of a QEMU log file. */
    public static String lastLogLine(Path log) {
        String last = LogTail.lastLine(log);
        return last.isEmpty() ? "(no output in " + log + ")" : last;
    }

    /** How many of QEMU's last lines a failed start quotes: enough for an error and its context. */
    public static final int LOG_TAIL_LINES = 10;

    /** The last {@link #LOG_TAIL_LINES} non-empty lines QEMU wrote to its log, oldest first; empty when none. */
    public List<String> logTail() {
        return LogTail.lastLines(layout.qemuLog(), LOG_TAIL_LINES);
    }
}
