package io.hvspi.plugin.qemu.hotplug;

import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.VmmUnavailableException;
import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/** Deadlines and the wait for QEMU's {@code DEVICE_DELETED}, shared by block and network hotplug. */
final class UnplugWait {
    private UnplugWait() {}

    /** What is left until {@code deadline}, at least a millisecond so that a reply already there is still taken. */
    static Duration left(long deadline) {
        return Duration.ofNanos(Math.max(1_000_000, deadline - System.nanoTime()));
    }

    /** The command timeout, or what is left until {@code deadline} when that is sooner. */
    static Duration bounded(QmpClient qmp, long deadline) {
        Duration left = left(deadline);
        return left.compareTo(qmp.defaultTimeout()) < 0 ? left : qmp.defaultTimeout();
    }

    /**
     * Waits until {@code gone} completes (the device's {@code DEVICE_DELETED} was handled), reading
     * QEMU's messages meanwhile. An interrupt does not cut the wait short, as it does not cut a
     * command's: the unplug is under way in QEMU whether or not anyone waits, and a move that gave up
     * here would take it for a refused one and lose the disk. The interrupt is kept for the caller.
     *
     * @param what the operation and device for messages, e.g. {@code detach of device 'd0'}
     */
    static void await(QmpClient qmp, CompletableFuture<Void> gone, String what, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        boolean interrupted = Thread.interrupted();
        try {
            while (!gone.isDone()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    break;
                }
                qmp.readUntil(gone, Duration.ofNanos(left)); // the event is read in this thread while no other reads
                interrupted |= Thread.interrupted();
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
        if (!gone.isDone()) {
            throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT, what
                    + ": QEMU did not report DEVICE_DELETED within " + timeout.toMillis()
                    + " ms (the guest has not released it); the unplug stays pending and completes when it does");
        }
        try {
            gone.join();
        } catch (CompletionException | CancellationException e) {
            Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
            throw cause instanceof VmmUnavailableException u
                    ? new VmmUnavailableException(u.reason(), what + ": " + u.getMessage(), u)
                    : new HvspiException(what + " failed: " + cause, cause);
        }
    }
}
