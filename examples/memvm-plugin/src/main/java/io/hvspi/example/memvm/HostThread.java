package io.hvspi.example.memvm;

import io.hvspi.spi.VmmUnavailableException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A real host thread standing in for one of the VMM's threads (main loop, vCPU,
 * IOThread, queue worker): it exists under {@code /proc/<pid>/task}, with its
 * name as {@code comm}, until stopped. It learns its own host thread id from
 * {@code /proc/thread-self}.
 */
final class HostThread {
    private static final long START_TIMEOUT_SECONDS = 5;

    private final Thread thread;
    private final CountDownLatch stop = new CountDownLatch(1);
    private final long tid;

    HostThread(String name) {
        CompletableFuture<Long> tidFuture = new CompletableFuture<>();
        thread = Thread.ofPlatform().name(name).daemon().start(() -> {
            try {
                // "/proc/thread-self" -> "<pid>/task/<tid>"
                Path self = Files.readSymbolicLink(Path.of("/proc/thread-self"));
                tidFuture.complete(Long.parseLong(self.getFileName().toString()));
                stop.await();
            } catch (IOException | RuntimeException e) {
                tidFuture.completeExceptionally(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        try {
            tid = tidFuture.get(START_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            stop.countDown();
            throw new VmmUnavailableException(VmmUnavailableException.Reason.EXITED,
                    "memvm: thread '" + name + "' did not start: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stop.countDown();
            throw new VmmUnavailableException(VmmUnavailableException.Reason.EXITED, "memvm: interrupted", e);
        }
    }

    long tid() {
        return tid;
    }

    /** The name the host gives the thread (Linux cuts it to 15 bytes). */
    String hostName() {
        try {
            return Files.readString(Path.of("/proc/self/task/" + tid + "/comm"), StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            return thread.getName();
        }
    }

    /** Ends the thread and waits until it is gone. */
    void stop() {
        stop.countDown();
        try {
            thread.join(TimeUnit.SECONDS.toMillis(START_TIMEOUT_SECONDS));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
