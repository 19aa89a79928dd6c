package io.hvspi.cli;

import io.hvspi.core.state.RuntimeDirs;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.RequestRejectedException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The directory of a simulated run's simulator, {@code .<id>.sim} beside the VMs' directories:
 * one run's alone. The run creates it exclusively (an existing one is another run's, or one a
 * killed run left, and is refused, never used or removed) and holds an {@code fcntl} lock on
 * {@value #LOCK} in it while it lives, which the kernel drops when the run dies, even by SIGKILL:
 * {@code vm stop} removes the directory only when that lock is free.
 */
final class SimulationDir implements AutoCloseable {
    static final String LOCK = "run.lock";
    /** Linux's sun_path holds 108 bytes with the terminating NUL. */
    static final int MAX_SOCKET_PATH = 107;
    /** The directories this JVM holds: another descriptor of a lock file, once closed, would drop its lock. */
    private static final Set<Path> HELD = ConcurrentHashMap.newKeySet();

    final Path dir;
    private final FileChannel channel;

    private SimulationDir(Path dir, FileChannel channel) {
        this.dir = dir;
        this.channel = channel;
    }

    /** Where a simulated run of VM {@code vmId} keeps its simulator (a name no VM id has: ids begin with a letter). */
    static Path of(Path runtimeRoot, String vmId) {
        return runtimeRoot.resolve("." + vmId + ".sim");
    }

    /**
     * Creates the directory for this run and locks it.
     *
     * @throws RequestRejectedException (IN_USE) when it exists: another run's, or a killed run's
     */
    static SimulationDir create(Path runtimeRoot, String vmId) {
        RuntimeDirs.createRoot(runtimeRoot);
        Path dir = of(runtimeRoot, vmId).toAbsolutePath();
        try {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (FileAlreadyExistsException e) {
            throw new RequestRejectedException(RequestRejectedException.Reason.IN_USE, holder(dir)
                    .map(pid -> "VM '" + vmId + "' is in use: the simulated run in pid " + pid + " keeps its simulator in "
                            + dir + "; choose another --vm-id")
                    .orElse("VM '" + vmId + "' has a simulator directory " + dir + " left by a run that was killed;"
                            + " remove it with: hvctl vm stop " + vmId));
        } catch (IOException e) {
            throw new HvspiException("cannot create the simulator's directory " + dir + ": " + e.getMessage(), e);
        }
        FileChannel channel = null;
        try {
            channel = FileChannel.open(dir.resolve(LOCK), Set.of(StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.READ, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS),
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            channel.lock(); // a new file in a new directory: nobody else has it
            channel.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)));
            HELD.add(dir);
            return new SimulationDir(dir, channel);
        } catch (IOException e) {
            closeQuietly(channel);
            RuntimeDirs.deleteTree(dir);
            throw new HvspiException("cannot lock the simulator's directory " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Checks that a simulator's socket {@code name} in this directory fits a Unix socket address.
     *
     * @throws HvspiException naming the path when it does not
     */
    void checkSocketPath(String name) {
        Path socket = dir.resolve(name);
        int length = socket.toString().getBytes(StandardCharsets.UTF_8).length;
        if (length > MAX_SOCKET_PATH) {
            throw new HvspiException("the simulator's socket path " + socket + " is " + length + " bytes, longer than a"
                    + " Unix socket allows (" + MAX_SOCKET_PATH + "); use a shorter runtime root (--runtime-dir) or VM id");
        }
    }

    /** The pid of the live run that holds {@code dir}, or empty when none does (a killed run's, or being made). */
    static Optional<Long> holder(Path dir) {
        if (HELD.contains(dir.toAbsolutePath())) {
            return Optional.of(ProcessHandle.current().pid());
        }
        try (FileChannel c = FileChannel.open(dir.resolve(LOCK), StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
            FileLock probe = c.tryLock(0, Long.MAX_VALUE, true);
            if (probe != null) {
                probe.release();
                return Optional.empty();
            }
            ByteBuffer b = ByteBuffer.allocate(24);
            c.read(b, 0);
            String text = new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII).strip();
            return Optional.of(text.matches("[0-9]{1,19}") ? Long.parseLong(text) : -1L);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException | OverlappingFileLockException e) {
            return Optional.of(-1L);
        }
    }

    /**
     * Removes the directory a killed run of {@code vmId} left; one a live run holds is left alone.
     *
     * @return false when there was none, true when it was removed
     * @throws HvspiException when a live run holds it, or it cannot be removed
     */
    static boolean removeLeftover(Path runtimeRoot, String vmId) {
        Path dir = of(runtimeRoot, vmId).toAbsolutePath();
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return false;
        }
        Optional<Long> pid = holder(dir);
        if (pid.isPresent()) {
            throw new HvspiException("left " + dir + ": the simulated run in pid " + pid.get() + " uses it");
        }
        RuntimeDirs.deleteTree(dir);
        return true;
    }

    /** Removes the directory, then releases the lock. */
    @Override
    public void close() {
        try {
            RuntimeDirs.deleteTree(dir);
        } finally {
            HELD.remove(dir);
            closeQuietly(channel);
        }
    }

    private static void closeQuietly(FileChannel channel) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // the kernel drops the lock with the descriptor
            }
        }
    }
}
