package io.hvspi.core.state;

import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * PLACEHOLDER, in-JVM only: the branch {@code corestate} brings the real,
 * cross-process lock with this exact API. Delete this file when merging main.
 */
public final class VmLock implements AutoCloseable {
    private static final ConcurrentMap<Path, Semaphore> LOCKS = new ConcurrentHashMap<>();

    private final String vmId;
    private final Semaphore semaphore;
    private boolean closed;

    private VmLock(String vmId, Semaphore semaphore) {
        this.vmId = vmId;
        this.semaphore = semaphore;
    }

    public static VmLock acquire(Path runtimeRoot, String vmId, Duration timeout) {
        Path key = runtimeRoot.toAbsolutePath().normalize().resolve(RuntimeDirs.checkVmId(vmId));
        Semaphore s = LOCKS.computeIfAbsent(key, k -> new Semaphore(1));
        try {
            if (!s.tryAcquire(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT,
                        "VM '" + vmId + "' is locked by process " + ProcessHandle.current().pid()
                                + "; gave up after " + timeout.toMillis() + " ms");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT,
                    "interrupted while waiting for the lock of VM '" + vmId + "'");
        }
        return new VmLock(vmId, s);
    }

    public String vmId() {
        return vmId;
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            semaphore.release();
        }
    }
}
