package io.hvspi.kit.channel;

import io.hvspi.spi.HvspiException;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/** Waiting for a reply the way every VMM call in hvspi waits. */
public final class Replies {
    private Replies() {
    }

    /**
     * Waits up to {@code timeout} for {@code reply}. An interrupt does not cut the wait
     * short: the VMM carries the request out whether or not anyone waits, and the caller
     * must learn what it did; the interrupt status is restored on return.
     *
     * @param onTimeout the error when no reply comes in time (a {@code TIMED_OUT} that names the timeout)
     * @throws HvspiException what the reply failed with, as a fresh exception so the trace shows the caller
     */
    public static <T> T await(CompletableFuture<T> reply, Duration timeout,
                              Supplier<? extends RuntimeException> onTimeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return reply.get(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        } catch (TimeoutException e) {
            throw onTimeout.get();
        } catch (ExecutionException e) {
            throw rethrow(e.getCause());
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The cause of a failed reply as a fresh exception of the same kind. */
    public static RuntimeException rethrow(Throwable t) {
        if (t instanceof VmmUnavailableException u) {
            return new VmmUnavailableException(u.reason(), u.getMessage(), u);
        }
        if (t instanceof VmmException e) {
            return new VmmException(e.command(), e.errorClass(), e.vmmMessage());
        }
        if (t instanceof RuntimeException r) {
            return r;
        }
        return new HvspiException(String.valueOf(t), t);
    }
}
