package io.hvspi.core.host;

import io.hvspi.spi.HvspiException;
import java.time.Duration;

/**
 * A resource registered with {@link HvspiHost#closeOnExit}: closed once, by {@link #close()}
 * or, if the JVM exits first, by the host's exit hook after the VMs it stops there.
 */
public final class ClosedOnExit implements AutoCloseable {
    private final AutoCloseable resource;
    private final Duration exitBound;
    private boolean closed;

    ClosedOnExit(AutoCloseable resource, Duration exitBound) {
        this.resource = resource;
        this.exitBound = exitBound;
    }

    /** How long the exit hook waits for the close (the host's command timeout). */
    Duration exitBound() {
        return exitBound;
    }

    /** Closes the resource now unless it was closed already, and stops watching it. */
    @Override
    public void close() {
        try {
            closeOnce();
        } finally {
            // forgotten only once closed: the exit hook, if it runs meanwhile, waits for this close
            // instead of letting the JVM halt in the middle of it
            StopOnExit.forget(this);
        }
    }

    /** Closes the resource the first time; a second caller waits until the first close has ended. */
    synchronized void closeOnce() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            resource.close();
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new HvspiException("could not close " + resource + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String toString() {
        return resource.toString();
    }
}
