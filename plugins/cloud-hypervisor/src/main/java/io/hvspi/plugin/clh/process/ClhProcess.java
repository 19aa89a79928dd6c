package io.hvspi.plugin.clh.process;

import io.hvspi.kit.log.LogTail;
import io.hvspi.spi.VmmUnavailableException;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code cloud-hypervisor} process: spawned with an argument list (never a
 * shell), its output in a log file in the VM's runtime directory; or found again
 * by pid when a later process reattaches.
 */
public final class ClhProcess {
    private static final Logger LOG = LoggerFactory.getLogger(ClhProcess.class);

    private final ProcessHandle handle;
    private final Optional<Path> log;

    private ClhProcess(ProcessHandle handle, Optional<Path> log) {
        this.handle = handle;
        this.log = log;
    }

    /** The command line: the binary and its API socket; everything else goes through the API. */
    public static List<String> command(Path binary, Path socket) {
        return List.of(binary.toString(), "--api-socket", "path=" + socket);
    }

    /** Spawns the VMM with its output appended to {@code log}. */
    public static ClhProcess spawn(Path binary, Path socket, Path log) {
        ProcessBuilder builder = new ProcessBuilder(command(binary, socket))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        try {
            Process process = builder.start();
            LOG.debug("spawned {} as pid {}", builder.command(), process.pid());
            return new ClhProcess(process.toHandle(), Optional.of(log));
        } catch (IOException e) {
            throw new VmmUnavailableException(VmmUnavailableException.Reason.EXITED,
                    "clh: cannot start " + binary + ": " + e.getMessage(), e);
        }
    }

    /**
     * The process with this pid, if it still runs and is the VMM serving
     * {@code socket} (after a reattach): a pid reused by an unrelated process is
     * never taken for the VMM, so stop() can never kill it.
     */
    public static Optional<ClhProcess> find(long pid, Path socket, Optional<Path> log) {
        return ProcessHandle.of(pid)
                .filter(ProcessHandle::isAlive)
                .filter(h -> h.info().arguments().map(args -> List.of(args).contains("path=" + socket)).orElse(true))
                .map(h -> new ClhProcess(h, log));
    }

    public long pid() {
        return handle.pid();
    }

    public boolean isAlive() {
        return handle.isAlive();
    }

    /** Completes when the process exits. */
    public CompletableFuture<ProcessHandle> onExit() {
        return handle.onExit();
    }

    /** The last line the VMM wrote to its log, for error messages; empty when there is none. */
    public String lastLogLine() {
        return log.map(LogTail::lastLine).orElse("");
    }

    /** Waits up to {@code grace} for the process to exit by itself, then kills it and waits for that too. */
    public void awaitExitOrKill(Duration grace) {
        if (waitFor(grace)) {
            return;
        }
        LOG.warn("cloud-hypervisor pid {} did not exit within {} ms; killing it", handle.pid(), grace.toMillis());
        handle.destroyForcibly();
        if (!waitFor(Duration.ofSeconds(5))) {
            LOG.error("cloud-hypervisor pid {} survived SIGKILL for 5 s", handle.pid());
        }
    }

    private boolean waitFor(Duration timeout) {
        try {
            handle.onExit().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (TimeoutException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return !handle.isAlive();
        } catch (ExecutionException e) {
            return !handle.isAlive();
        }
    }
}
