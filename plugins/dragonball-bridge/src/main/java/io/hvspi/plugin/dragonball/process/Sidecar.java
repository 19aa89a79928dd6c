package io.hvspi.plugin.dragonball.process;

import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A bridge sidecar process that hvspi started: {@code <path> --api-sock <socket>},
 * its output appended to a log file beside the socket. It outlives the JVM that
 * started it (no pipes to it), so a VM survives {@code hvctl run --keep}.
 */
public final class Sidecar {
    private static final Logger LOG = LoggerFactory.getLogger(Sidecar.class);
    private static final Duration POLL = Duration.ofMillis(10);

    private final ProcessHandle handle;
    private final Optional<Process> process; // empty when adopted from an earlier hvspi process
    private final String description;

    private Sidecar(ProcessHandle handle, Optional<Process> process, String description) {
        this.handle = handle;
        this.process = process;
        this.description = description;
    }

    /** Starts the sidecar; it is ready once {@link #awaitReady} says so. */
    public static Sidecar spawn(Path binary, Path socket, Path log) {
        ProcessBuilder pb = new ProcessBuilder(List.of(binary.toString(), "--api-sock", socket.toString()))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        try {
            Process p = pb.start();
            return new Sidecar(p.toHandle(), Optional.of(p), "the Dragonball bridge sidecar " + binary
                    + " (pid " + p.pid() + ", log " + log + ")");
        } catch (IOException e) {
            throw new VmmUnavailableException(Reason.EXITED, "cannot start the Dragonball bridge sidecar " + binary
                    + ": " + e.getMessage(), e);
        }
    }

    /** A sidecar an earlier process started, when it still runs. */
    public static Optional<Sidecar> adopt(long pid) {
        return ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
                .map(h -> new Sidecar(h, Optional.empty(), "the Dragonball bridge sidecar (pid " + pid + ")"));
    }

    /**
     * Repeats {@code connect} until it succeeds. The socket file exists a moment before
     * the sidecar listens, so a refused connection ({@code EXITED}) is retried while the
     * process lives; any other failure is final. Throws {@code EXITED} when the process
     * ends first and {@code TIMED_OUT} (killing it) when {@code timeout} passes.
     */
    public <T> T awaitReady(Supplier<T> connect, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            VmmUnavailableException refused;
            try {
                return connect.get();
            } catch (VmmUnavailableException e) {
                if (e.reason() != Reason.EXITED) {
                    throw e;
                }
                refused = e;
            }
            if (!handle.isAlive()) {
                String status = process.map(p -> " with status " + p.exitValue()).orElse("");
                throw new VmmUnavailableException(Reason.EXITED, description + " exited" + status
                        + " before accepting connections", refused);
            }
            if (System.nanoTime() > deadline) {
                handle.destroyForcibly();
                throw new VmmUnavailableException(Reason.TIMED_OUT, description + " accepted no connection within "
                        + timeout.toMillis() + " ms", refused);
            }
            try {
                Thread.sleep(POLL); // a poll with a deadline: the sidecar gives no other sign of readiness
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                handle.destroyForcibly();
                throw new VmmUnavailableException(Reason.TIMED_OUT, "interrupted while starting " + description);
            }
        }
    }

    public long pid() {
        return handle.pid();
    }

    public boolean isAlive() {
        return handle.isAlive();
    }

    /** SIGTERM, then SIGKILL when it has not exited within {@code grace}; waits for the exit. */
    public void stop(Duration grace) {
        if (!handle.isAlive()) {
            return;
        }
        handle.destroy();
        try {
            handle.onExit().get(grace.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            LOG.warn("{} ignored SIGTERM for {} ms; killing it", description, grace.toMillis());
            handle.destroyForcibly();
            handle.onExit().orTimeout(grace.toMillis(), TimeUnit.MILLISECONDS).exceptionally(t -> null).join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            handle.destroyForcibly();
        } catch (ExecutionException e) {
            LOG.debug("waiting for the sidecar to exit: {}", e.toString());
        }
    }
}
