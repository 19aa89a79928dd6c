package io.hvspi.core.state;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Real processes for the process-identity tests: QEMU 7.2 with a QMP socket, and decoys. */
public final class TestProcesses {
    private TestProcesses() {}

    static final String QEMU = "qemu-system-x86_64";

    /** A paused q35 QEMU with no guest whose QMP socket is {@code <dir>/qmp.sock}; returns once the socket exists. */
    public static Process qemu(Path dir) throws Exception {
        Path sock = dir.resolve("qmp.sock");
        Process p = qemuStarting(dir);
        awaitTrue(() -> Files.exists(sock) || !p.isAlive(), Duration.ofSeconds(30));
        if (!p.isAlive()) {
            throw new IOException("QEMU exited: " + Files.readString(dir.resolve("qemu.log")));
        }
        return p;
    }

    /** The same QEMU, returned as soon as it is spawned (its command line is QEMU's by then). */
    static Process qemuStarting(Path dir) throws IOException {
        return new ProcessBuilder(List.of(QEMU, "-machine", "q35", "-accel", "tcg", "-S", "-display", "none",
                "-nodefaults", "-no-user-config", "-qmp", "unix:" + dir.resolve("qmp.sock") + ",server=on,wait=off"))
                .redirectErrorStream(true).redirectOutput(dir.resolve("qemu.log").toFile()).start();
    }

    /**
     * A shell that only waits and whose own argv holds {@code args} (as positional
     * parameters: GNU sleep itself rejects extra words; no exec, so the shell stays).
     */
    static Process sleepNaming(String... args) throws IOException {
        List<String> sh = new ArrayList<>(List.of("sh", "-c", "sleep 1000; exit 0", "sleep"));
        sh.addAll(List.of(args));
        return new ProcessBuilder(sh).start();
    }

    /** Sends a signal by name with kill(1): the JDK can send only TERM and KILL. */
    static void signal(long pid, String name) throws Exception {
        Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(pid)).inheritIO().start();
        if (kill.waitFor() != 0) {
            throw new IOException("kill -" + name + " " + pid + " failed");
        }
    }

    static void awaitTrue(java.util.function.BooleanSupplier condition, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met within " + timeout);
            }
            TimeUnit.MILLISECONDS.sleep(5);
        }
    }

    public static void kill(Process p) throws InterruptedException {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        p.waitFor();
    }
}
