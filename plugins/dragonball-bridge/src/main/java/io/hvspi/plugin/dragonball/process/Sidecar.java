package io.hvspi.plugin.dragonball.process;

import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
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

    private Sidecar(ProcessHandle handle) {
        this.handle = handle;
    }

    /**
     * Starts the sidecar and waits until its socket exists. Throws
     * {@link VmmUnavailableException} when it exits first ({@code EXITED}) or the
     * socket does not appear within {@code timeout} ({@code TIMED_OUT}, the process
     * is killed).
     */
    public static Sidecar spawn(Path binary, Path socket, Path log, Duration timeout) {
        ProcessBuilder pb = new ProcessBuilder(List.of(binary.toString(), "--api-sock", socket.toString()))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Process process;
        try {
            process = pb.start();
        } catch (IOException e) {
            throw new VmmUnavailableException(Reason.EXITED, "cannot start the Dragonball bridge sidecar " + binary
                    + ": " + e.getMessage(), e);
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!Files.exists(socket)) {
            if (!process.isAlive()) {
                throw new VmmUnavailableException(Reason.EXITED, "the Dragonball bridge sidecar " + binary
                        + " exited with status " + process.exitValue() + " before creating " + socket + "; see " + log);
            }
            if (System.nanoTime() > deadline) {
                process.destroyForcibly();
                throw new VmmUnavailableException(Reason.TIMED_OUT, "the Dragonball bridge sidecar " + binary
                        + " did not create " + socket + " within " + timeout.toMillis() + " ms; see " + log);
            }
            try {
                Thread.sleep(POLL); // a poll with a deadline: the sidecar gives no other sign of readiness
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                process.destroyForcibly();
                throw new VmmUnavailableException(Reason.TIMED_OUT, "interrupted while starting " + binary);
            }
        }
        return new Sidecar(process.toHandle());
    }

    /** A sidecar an earlier process started, when it still runs. */
    public static Optional<Sidecar> adopt(long pid) {
        return ProcessHandle.of(pid).filter(ProcessHandle::isAlive).map(Sidecar::new);
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
            LOG.warn("Dragonball bridge sidecar {} ignored SIGTERM for {} ms; killing it", handle.pid(),
                    grace.toMillis());
            handle.destroyForcibly();
            handle.onExit().orTimeout(grace.toMillis(), TimeUnit.MILLISECONDS).exceptionally(t -> null).join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            handle.destroyForcibly();
        } catch (java.util.concurrent.ExecutionException e) {
            LOG.debug("waiting for sidecar exit: {}", e.toString());
        }
    }
}
