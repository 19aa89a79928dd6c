package io.hvspi.tck;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/** What the host's {@code /proc} says about a VMM's threads. */
final class HostProc {
    private static final long POLL_INTERVAL_NANOS = 2_000_000;

    private HostProc() {}

    static Path task(long pid, long tid) {
        return Path.of("/proc", Long.toString(pid), "task", Long.toString(tid));
    }

    /** True while thread {@code tid} of process {@code pid} exists. */
    static boolean threadExists(long pid, long tid) {
        return Files.isDirectory(task(pid, tid));
    }

    /** The thread's name ({@code comm}), if it exists. */
    static Optional<String> comm(long pid, long tid) {
        try {
            return Optional.of(Files.readString(task(pid, tid).resolve("comm"), StandardCharsets.UTF_8).strip());
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new AssertionError("cannot read " + task(pid, tid) + "/comm: " + e.getMessage(), e);
        }
    }

    /** The thread's {@code Cpus_allowed_list}, if it exists. */
    static Optional<String> cpusAllowed(long pid, long tid) {
        try {
            return Files.readAllLines(task(pid, tid).resolve("status"), StandardCharsets.UTF_8).stream()
                    .filter(l -> l.startsWith("Cpus_allowed_list:"))
                    .map(l -> l.substring("Cpus_allowed_list:".length()).strip())
                    .findFirst();
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new AssertionError("cannot read " + task(pid, tid) + "/status: " + e.getMessage(), e);
        }
    }

    /** Polls {@code condition} until it holds or {@code timeout} passes; true when it held. */
    static boolean await(BooleanSupplier condition, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            LockSupport.parkNanos(POLL_INTERVAL_NANOS);
        }
        return true;
    }
}
