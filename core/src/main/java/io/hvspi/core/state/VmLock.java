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
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Arrays;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletionStage;
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
 * files are therefore never deleted: one small file per VM id ever used, in
 * a private directory on the runtime root (a tmpfs under {@code /run} by default).
 *
 * <p>{@code fcntl} locks belong to the process, so two threads of one JVM would
 * both get it (Java throws {@code OverlappingFileLockException} instead); a
 * semaphore per lock file orders the threads first. The lock is not reentrant.
 * Waiting polls with a deadline: nothing blocks without bound.
 *
 * <p>Each lock file is opened once per JVM and its channel kept, which makes an
 * uncontended acquire and release four system calls. Nothing else in the JVM may
 * open the file: closing any descriptor of a file drops the process's
 * {@code fcntl} locks on it. If the file is deleted or replaced behind hvspi's
 * back, the next acquire notices (its inode changed) and locks the new one.
 *
 * <p>The holder writes its pid into the file after taking the lock, so a waiter
 * in another process that gives up can say who holds it. Work that was given up
 * on but still runs (a plugin's stop past its bound) keeps the lock past its
 * holder's close ({@link #keepUntil}).
 */
public final class VmLock implements AutoCloseable {
    static final String LOCK_DIR = ".locks";
    /** Polling starts fast (an attach holds the lock for a few ms) and backs off to this. */
    private static final long MAX_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(20);
    private static final Set<OpenOption> OPEN = Set.of(StandardOpenOption.CREATE, StandardOpenOption.READ,
            StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
    /** A pid is at most 7 digits on Linux; the field is fixed so that no truncate is needed. */
    private static final int PID_FIELD = 20;
    /** One entry per lock file, kept for the JVM's life: a semaphore and an open descriptor per VM id used. */
    private static final ConcurrentMap<Path, LockFile> IN_JVM = new ConcurrentHashMap<>();

    /** A lock file as this JVM holds it open; the channel is used only by the thread holding the semaphore. */
    private static final class LockFile {
        final Path path;
        final Semaphore threads = new Semaphore(1);
        FileChannel channel;
        Object inode;
        /** Why the lock outlives its holder's close, for a waiter's message; null when it does not. */
        volatile String keptFor;

        LockFile(Path path) {
            this.path = path;
        }

        FileChannel channel() throws IOException {
            if (channel == null || !channel.isOpen()) {
                // the root as a VM's start makes it (checked, never a shared one), when it is missing
                RuntimeDirs.createRoot(path.getParent().getParent());
                // one lstat when it exists: refuses a link or another user's directory in its place
                RuntimeDirs.createPrivate(path.getParent());
                // the mode applies when the file is created; NOFOLLOW_LINKS refuses a planted link
                channel = FileChannel.open(path, OPEN, PosixFilePermissions.asFileAttribute(RuntimeDirs.FILE_MODE));
                inode = inodeOf(path);
            }
            return channel;
        }

        /** Whether the path still names the file this channel has open. */
        boolean current() throws IOException {
            return Objects.equals(inode, inodeOf(path));
        }

        void drop() {
            closeQuietly(channel);
            channel = null;
        }
    }

    private final String vmId;
    private final LockFile file;
    private final FileLock lock;
    private boolean closed;
    /** The holder's close, and each {@link #keepUntil} not yet done: the lock is released when none is left. */
    private int holds = 1;

    private VmLock(String vmId, LockFile file, FileLock lock) {
        this.vmId = vmId;
        this.file = file;
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
        Path path = lockFile(runtimeRoot, vmId);
        long deadline = deadline(timeout);
        LockFile file = IN_JVM.computeIfAbsent(path, LockFile::new);
        try {
            if (!file.threads.tryAcquire(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                String kept = file.keptFor;
                throw timedOut(vmId, "this process (pid " + ProcessHandle.current().pid() + ")"
                        + (kept != null ? " for " + kept : ""), timeout);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT,
                    "interrupted while waiting for the lock of VM '" + vmId + "'", e);
        }
        try {
            while (true) {
                FileChannel channel = file.channel();
                FileLock lock = lockUntil(channel, deadline);
                if (lock == null) {
                    throw timedOut(vmId, readHolder(channel).map(pid -> "pid " + pid)
                            .orElse("a process that has not written its pid yet"), timeout);
                }
                if (!file.current()) {
                    file.drop(); // deleted or replaced since it was opened: lock the file that is there now
                    continue;
                }
                writePid(channel, ProcessHandle.current().pid());
                return new VmLock(vmId, file, lock);
            }
        } catch (IOException e) {
            file.drop();
            file.threads.release();
            throw new HvspiException("cannot lock VM '" + vmId + "' with " + path + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            file.threads.release();
            throw e;
        }
    }

    /** Now plus the timeout, saturated so that a huge timeout neither throws nor wraps around. */
    static long deadline(Duration timeout) {
        long nanos = timeout.isNegative() ? 0
                : timeout.compareTo(Duration.ofDays(365)) > 0 ? Duration.ofDays(365).toNanos() : timeout.toNanos();
        return System.nanoTime() + nanos;
    }

    private static Object inodeOf(Path path) throws IOException {
        try {
            return Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
        } catch (NoSuchFileException e) {
            return null;
        }
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

    /** Writes the pid, or blanks for none, into a fixed-width field at the start of the file. */
    private static void writePid(FileChannel channel, long pid) throws IOException {
        byte[] field = new byte[PID_FIELD];
        Arrays.fill(field, (byte) ' ');
        field[PID_FIELD - 1] = '\n';
        if (pid > 0) {
            byte[] digits = Long.toString(pid).getBytes(StandardCharsets.US_ASCII);
            System.arraycopy(digits, 0, field, 0, digits.length);
        }
        ByteBuffer b = ByteBuffer.wrap(field);
        while (b.hasRemaining()) {
            channel.write(b, b.position());
        }
    }

    /** The holder's pid, read through the waiter's own descriptor (another open and close would drop locks). */
    private static Optional<Long> readHolder(FileChannel channel) {
        try {
            ByteBuffer b = ByteBuffer.allocate(PID_FIELD);
            channel.read(b, 0);
            return parsePid(new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static Optional<Long> parsePid(String text) {
        try {
            String t = text.strip();
            return t.isEmpty() ? Optional.empty() : Optional.of(Long.parseLong(t));
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    /**
     * The pid the holder wrote, if any. For tests and diagnostics from another process
     * only: it opens and closes the file, which in a process holding the lock would drop it.
     */
    static Optional<Long> holderPid(Path file) {
        try {
            return parsePid(Files.readString(file, StandardCharsets.US_ASCII));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static VmmUnavailableException timedOut(String vmId, String holder, Duration timeout) {
        return new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT,
                "VM '" + vmId + "' is locked by " + holder + "; gave up after " + timeout.toMillis() + " ms");
    }

    /** The pid written into the lock file, read through the held descriptor. */
    Optional<Long> writtenPid() {
        return readHolder(file.channel);
    }

    public String vmId() {
        return vmId;
    }

    /**
     * Keeps the lock held past {@link #close()} until {@code done} completes: for work on the
     * VM that was given up on but still runs (a plugin's stop past its bound), which must not
     * meet the next holder, such as a new VM of the same id. Until then, waiters in this process
     * time out with {@code reason} in the message; others see this process's pid. Returns false,
     * keeping nothing, when the holder has closed the lock already.
     */
    public boolean keepUntil(CompletionStage<?> done, String reason) {
        synchronized (this) {
            if (closed) {
                return false;
            }
            holds++;
        }
        file.keptFor = reason;
        done.whenComplete((result, failure) -> releaseHold());
        return true;
    }

    /** Releases the lock (unless {@link #keepUntil} keeps it); never throws. A second call does nothing. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        releaseHold();
    }

    private void releaseHold() {
        synchronized (this) {
            if (--holds > 0) {
                return;
            }
        }
        file.keptFor = null;
        try {
            // cleared so a later waiter does not name a holder that has left
            writePid(file.channel, 0);
            lock.release();
        } catch (IOException | RuntimeException e) {
            // the lock may be kept with the descriptor: close it, which releases it
            file.drop();
        }
        file.threads.release();
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
