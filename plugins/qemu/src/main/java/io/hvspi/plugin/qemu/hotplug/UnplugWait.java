package io.hvspi.plugin.qemu.hotplug;

import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.VmmUnavailableException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

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
     * QEMU's messages meanwhile; an interrupt ends the wait.
     *
     * @param what the operation and device for messages, e.g. {@code detach of device 'd0'}
     */
    static void await(QmpClient qmp, CompletableFuture<Void> gone, String what, Duration timeout) {
        qmp.readUntil(gone, timeout); // the event is read in this thread while no other reads
        try {
            gone.get(0, TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT, what
                    + ": QEMU did not report DEVICE_DELETED within " + timeout.toMillis()
                    + " ms (the guest has not released it); the unplug stays pending and completes when it does");
        } catch (ExecutionException e) {
            throw e.getCause() instanceof VmmUnavailableException u
                    ? new VmmUnavailableException(u.reason(), what + ": " + u.getMessage(), u)
                    : new HvspiException(what + " failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HvspiException("interrupted during " + what, e);
        }
    }
}
