package io.hvspi.sim.dragonball;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;

/**
 * A real, named platform thread standing in for one of Dragonball's threads
 * ({@code db_vcpu0}, {@code blk_iothread_q0}), so that {@code /proc/<pid>/task/*}
 * shows it under that name with a host thread id. It idles until stopped.
 */
final class SimThread {
    private final String name;
    private final long tid;
    private final Thread thread;
    private final CountDownLatch stop = new CountDownLatch(1);

    private SimThread(String name) {
        this.name = name;
        CompletableFuture<Long> tidFuture = new CompletableFuture<>();
        this.thread = new Thread(() -> {
            try {
                tidFuture.complete(currentTid());
            } catch (RuntimeException e) {
                tidFuture.completeExceptionally(e);
                return;
            }
            try {
                stop.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, name);
        thread.setDaemon(true);
        thread.start();
        try {
            this.tid = tidFuture.get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting thread " + name, e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot start simulated thread " + name + ": " + e, e);
        }
    }

    /** Starts a thread with this name (Linux keeps the first 15 bytes as its {@code comm}). */
    static SimThread start(String name) {
        return new SimThread(name);
    }

    /** The calling thread's host thread id, from {@code /proc/thread-self -> <pid>/task/<tid>}. */
    static long currentTid() {
        try {
            Path link = Files.readSymbolicLink(Path.of("/proc/thread-self"));
            return Long.parseLong(link.getFileName().toString());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read /proc/thread-self (the simulator needs Linux /proc)", e);
        }
    }

    String name() {
        return name;
    }

    long tid() {
        return tid;
    }

    /** Ends the thread and waits for it, so that it is gone from {@code /proc} when this returns. */
    void stop() {
        stop.countDown();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        try {
            thread.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        // join returns once the Java thread has ended; its kernel task leaves /proc a moment later
        Path task = Path.of("/proc/self/task", Long.toString(tid));
        while (Files.exists(task) && System.nanoTime() < deadline) {
            LockSupport.parkNanos(50_000);
        }
    }
}
