package io.hvspi.core.state;

import io.hvspi.spi.HvspiException;
import io.hvspi.spi.VmmUnavailableException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * A VM's lock, exclusive across processes and across threads of one JVM: whoever
 * operates on a VM holds it from reading the VM's record to writing it back.
 *
 * <p>The lock is {@link FileChannel#tryLock()} (an {@code fcntl} lock, released by
 * the kernel when its process dies, also by SIGKILL) on {@code <root>/.locks/<vmId>.lock}.
 * The file lives outside the VM's runtime directory on purpose: that directory
 * does not exist before the VM is created, and stop deletes it while holding the
 * lock; a waiter that had opened a file inside it would then lock an unlinked
 * file while a newcomer locks a fresh one, and both would "hold" the lock. Lock
 * files are therefore never deleted: one empty-ish file per VM id ever used, in
 * a private directory on the runtime root (a tmpfs under {@code /run} by default).
 *
 * <p>{@code fcntl} locks belong to the process, so two threads of one JVM would
 * both get it (Java throws {@code OverlappingFileLockException} instead); a
 * semaphore per lock file orders the threads first. The lock is not reentrant.
 * Waiting polls with a deadline: nothing blocks without bound.
 *
 * <p>The holder writes its pid into the file after taking the lock, so a waiter
 * that gives up can say who holds it.
 */
public final class VmLock implements AutoCloseable {
    static final String LOCK_DIR = ".locks";
    /** Polling starts fast (an attach holds the lock for a few ms) and backs off to this. */
    private static final long MAX_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(20);
    private static final Set<OpenOption> OPEN = Set.of(StandardOpenOption.CREATE, StandardOpenOption.READ,
            StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
    /** One semaphore per lock file, kept for the JVM's life: a few bytes per VM id used. */
    private static final ConcurrentMap<Path, Semaphore> IN_JVM = new ConcurrentHashMap<>();

    private final String vmId;
    private final Semaphore threads;
    private final FileChannel channel;
    private final FileLock lock;
    private boolean closed;

    private VmLock(String vmId, Semaphore threads, FileChannel channel, FileLock lock) {
        this.vmId = vmId;
        this.threads = threads;
        this.channel = channel;
        this.lock = lock;
    }

    /** Where the lock of {@code vmId} lives under {@code runtimeRoot}. */
    public static Path lockFile(Path runtimeRoot, String vmId) {
        return runtimeRoot.toAbsolutePath().normalize().resolve(LOCK_DIR)
                .resolve(RuntimeDirs.checkVmId(vmId) + ".lock");
    }

    /**
     * Takes the VM's cross-process lock, waiting up to timeout; on timeout throws
     * {@link VmmUnavailableException} (reason {@code TIMED_OUT}) with one line naming the holder's pid.
     *
     * @throws HvspiException when the lock file cannot be created or opened
     */
    public static VmLock acquire(Path runtimeRoot, String vmId, Duration timeout) {
        Path file = lockFile(runtimeRoot, vmId);
        long deadline = System.nanoTime() + Math.max(0, timeout.toNanos());
        Semaphore threads = IN_JVM.computeIfAbsent(file, f -> new Semaphore(1));
        try {
            if (!threads.tryAcquire(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                throw timedOut(file, vmId, timeout);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT,
                    "interrupted while waiting for the lock of VM '" + vmId + "'", e);
        }
        FileChannel channel = null;
        try {
            channel = open(file);
            FileLock lock = lockUntil(channel, deadline);
            if (lock == null) {
                throw timedOut(file, vmId, timeout);
            }
            writePid(channel);
            return new VmLock(vmId, threads, channel, lock);
        } catch (IOException e) {
            closeQuietly(channel);
            threads.release();
            throw new HvspiException("cannot lock VM '" + vmId + "' with " + file + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeQuietly(channel);
            threads.release();
            throw e;
        }
    }

    private static FileChannel open(Path file) throws IOException {
        // one lstat when it exists: refuses a link or another user's directory in its place
        RuntimeDirs.createPrivate(file.getParent());
        // the mode applies when the file is created; NOFOLLOW_LINKS refuses a planted link
        return FileChannel.open(file, OPEN, PosixFilePermissions.asFileAttribute(RuntimeDirs.FILE_MODE));
    }

    private static FileLock lockUntil(FileChannel channel, long deadline) throws IOException {
        long pause = TimeUnit.MICROSECONDS.toNanos(200);
        while (true) {
            FileLock lock = channel.tryLock();
            if (lock != null) {
                return lock;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return null;
            }
            LockSupport.parkNanos(Math.min(pause, left));
            pause = Math.min(pause * 2, MAX_POLL_NANOS);
        }
    }

    private static void writePid(FileChannel channel) throws IOException {
        byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
        channel.truncate(0);
        channel.write(ByteBuffer.wrap(pid), 0);
    }

    private static VmmUnavailableException timedOut(Path file, String vmId, Duration timeout) {
        String holder = holderPid(file).map(pid -> pid == ProcessHandle.current().pid()
                        ? "this process (pid " + pid + ")" : "pid " + pid)
                .orElse("a process that has not written its pid yet");
        return new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT,
                "VM '" + vmId + "' is locked by " + holder + "; gave up after " + timeout.toMillis() + " ms");
    }

    /** The pid the holder wrote, if any; reading needs no lock. */
    static Optional<Long> holderPid(Path file) {
        try {
            String text = Files.readString(file, StandardCharsets.US_ASCII).trim();
            return text.isEmpty() ? Optional.empty() : Optional.of(Long.parseLong(text));
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    public String vmId() {
        return vmId;
    }

    /** Releases the lock; never throws. A second call does nothing. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        try {
            // cleared so a later waiter does not name a holder that has left
            channel.truncate(0);
        } catch (IOException ignored) {
            // the file keeps a stale pid: only the timeout message can show it
        }
        try {
            lock.release();
        } catch (IOException ignored) {
            // closing the channel below releases it as well
        }
        closeQuietly(channel);
        threads.release();
    }

    private static void closeQuietly(FileChannel channel) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // nothing to do: the kernel drops the lock with the descriptor
            }
        }
    }
}
