package io.hvspi.core.state;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The VM lock excludes real processes and threads of one JVM, and a dead holder releases it. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class VmLockTest {
    private static final Duration SHORT = Duration.ofMillis(150);
    private static final Duration LONG = Duration.ofSeconds(30);

    @TempDir
    Path root;

    private ChildJvm holder(String vmId) throws Exception {
        ChildJvm child = ChildJvm.start(LockHolderMain.class, root.toString(), vmId);
        assertEquals("locked " + child.pid(), child.readLine());
        return child;
    }

    @Test
    void anotherProcessHoldingTheLockMakesAWaiterTimeOutNamingItsPid() throws Exception {
        try (ChildJvm child = holder("vm1")) {
            VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                    () -> VmLock.acquire(root, "vm1", SHORT));
            assertEquals(VmmUnavailableException.Reason.TIMED_OUT, e.reason());
            assertEquals("VM 'vm1' is locked by pid " + child.pid() + "; gave up after 150 ms", e.getMessage());
            // another VM's lock is independent
            try (VmLock other = VmLock.acquire(root, "vm2", SHORT)) {
                assertEquals("vm2", other.vmId());
            }
            child.send("release");
            assertEquals("released", child.readLine());
            try (VmLock lock = VmLock.acquire(root, "vm1", SHORT)) {
                assertEquals("vm1", lock.vmId());
            }
        }
    }

    @Test
    void aWaiterGetsTheLockOnceTheOtherProcessReleasesIt() throws Exception {
        try (ChildJvm child = holder("vm1")) {
            CompletableFuture<VmLock> waiter = CompletableFuture.supplyAsync(() -> VmLock.acquire(root, "vm1", LONG));
            child.send("release");
            try (VmLock lock = waiter.get(60, TimeUnit.SECONDS)) {
                assertEquals(ProcessHandle.current().pid(), lock.writtenPid().orElseThrow());
            }
            assertEquals("released", child.readLine());
        }
    }

    @Test
    void aSigkilledHolderReleasesTheLock() throws Exception {
        ChildJvm child = holder("vm1");
        long childPid = child.pid();
        assertEquals(childPid, VmLock.holderPid(VmLock.lockFile(root, "vm1")).orElseThrow());
        child.process.destroyForcibly(); // SIGKILL: no close, no finally
        child.process.waitFor();
        try (VmLock lock = VmLock.acquire(root, "vm1", LONG)) {
            // the dead holder's pid was overwritten by ours
            assertEquals(ProcessHandle.current().pid(), lock.writtenPid().orElseThrow());
        }
    }

    @Test
    void threadsOfOneJvmExcludeEachOther() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try (VmLock held = VmLock.acquire(root, "vm1", SHORT)) {
            Future<?> other = pool.submit(() -> VmLock.acquire(root, "vm1", SHORT));
            Exception e = assertThrows(Exception.class, () -> other.get(60, TimeUnit.SECONDS));
            VmmUnavailableException cause = (VmmUnavailableException) e.getCause();
            assertEquals("VM 'vm1' is locked by this process (pid " + ProcessHandle.current().pid()
                    + "); gave up after 150 ms", cause.getMessage());
        }
        // a read-modify-write under the lock from 4 threads loses no update
        int[] counter = {0};
        List<Future<?>> workers = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            workers.add(pool.submit(() -> {
                for (int i = 0; i < 500; i++) {
                    try (VmLock lock = VmLock.acquire(root, "vm1", LONG)) {
                        int seen = counter[0];
                        Thread.onSpinWait();
                        counter[0] = seen + 1;
                    }
                }
            }));
        }
        for (Future<?> w : workers) {
            w.get(60, TimeUnit.SECONDS);
        }
        pool.shutdown();
        assertEquals(2000, counter[0]);
    }

    @Test
    void closeReleasesOnceAndNeverThrows() {
        VmLock lock = VmLock.acquire(root, "vm1", SHORT);
        lock.close();
        lock.close();
        try (VmLock again = VmLock.acquire(root, "vm1", SHORT)) {
            assertEquals("vm1", again.vmId());
        }
        assertTrue(VmLock.holderPid(VmLock.lockFile(root, "vm1")).isEmpty(), "a released lock names no holder");
    }

    @Test
    void keepUntilHoldsTheLockPastCloseUntilTheWorkIsDone() {
        CompletableFuture<Void> work = new CompletableFuture<>();
        VmLock lock = VmLock.acquire(root, "vm1", SHORT);
        lock.keepUntil(work, "a stop that has not returned");
        lock.close();
        VmmUnavailableException held = assertThrows(VmmUnavailableException.class,
                () -> VmLock.acquire(root, "vm1", SHORT));
        assertTrue(held.getMessage().contains("for a stop that has not returned"), held.getMessage());
        work.complete(null);
        VmLock.acquire(root, "vm1", SHORT).close();
        assertFalse(lock.keepUntil(new CompletableFuture<>(), "too late"), "a closed lock keeps nothing");
        VmLock.acquire(root, "vm1", SHORT).close();
    }

    @Test
    void workDoneBeforeCloseLeavesTheCloseToRelease() {
        VmLock lock = VmLock.acquire(root, "vm1", SHORT);
        lock.keepUntil(CompletableFuture.completedFuture(null), "done at once");
        assertThrows(VmmUnavailableException.class, () -> VmLock.acquire(root, "vm1", SHORT));
        lock.close();
        VmLock.acquire(root, "vm1", SHORT).close();
    }

    @Test
    void lockFilesArePrivateAndOutsideTheRuntimeDirectory() throws Exception {
        try (VmLock lock = VmLock.acquire(root, "vm1", SHORT)) {
            Path file = VmLock.lockFile(root, "vm1");
            assertEquals(root.resolve(".locks").resolve("vm1.lock"), file);
            assertEquals("rw-------", PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(file, LinkOption.NOFOLLOW_LINKS)));
            assertEquals("rwx------", PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(file.getParent(), LinkOption.NOFOLLOW_LINKS)));
            assertFalse(Files.exists(root.resolve("vm1")), "the lock does not create the runtime directory");
        }
    }

    @Test
    void aPlantedLinkInPlaceOfTheLockFileIsRefused() throws Exception {
        Path target = Files.createFile(root.resolve("target"));
        Files.createDirectories(root.resolve(".locks"));
        Files.createSymbolicLink(VmLock.lockFile(root, "vm1"), target);
        Exception e = assertThrows(Exception.class, () -> VmLock.acquire(root, "vm1", SHORT));
        assertTrue(e.getMessage().contains("vm1.lock"), e.getMessage());
        assertEquals(0, Files.size(target));
    }

    @Test
    void aLockFileDeletedBehindHvspisBackIsRecreatedAndStillExcludes() throws Exception {
        VmLock.acquire(root, "vm1", SHORT).close(); // this JVM now keeps the old file open
        Files.delete(VmLock.lockFile(root, "vm1"));
        try (ChildJvm child = holder("vm1")) { // the child creates and locks a new file
            VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                    () -> VmLock.acquire(root, "vm1", SHORT));
            assertEquals("VM 'vm1' is locked by pid " + child.pid() + "; gave up after 150 ms", e.getMessage());
            child.send("release");
            assertEquals("released", child.readLine());
        }
    }

    @Test
    void aPlantedLinkInPlaceOfTheLockDirectoryIsRefused() throws Exception {
        Path elsewhere = Files.createDirectory(root.resolve("elsewhere"));
        Files.createSymbolicLink(root.resolve(".locks"), elsewhere);
        Exception e = assertThrows(io.hvspi.spi.HvspiException.class, () -> VmLock.acquire(root, "vm1", SHORT));
        assertTrue(e.getMessage().contains("symbolic link"), e.getMessage());
        try (var files = Files.list(elsewhere)) {
            assertEquals(0, files.count());
        }
    }

    @Test
    void aHugeTimeoutNeitherOverflowsNorWaits() {
        try (VmLock lock = VmLock.acquire(root, "vm1", Duration.ofSeconds(Long.MAX_VALUE))) {
            assertEquals("vm1", lock.vmId());
        }
    }

    @Test
    void anInvalidVmIdIsRejectedBeforeAnyFileIsMade() {
        assertThrows(RequestRejectedException.class, () -> VmLock.acquire(root, "../x", SHORT));
        assertFalse(Files.exists(root.resolve(".locks")));
    }

    /** Not a benchmark: prints the cost of one uncontended acquire and release for the report. */
    @Test
    void uncontendedAcquireAndReleaseCost() {
        int n = 5000;
        for (int i = 0; i < n; i++) {
            VmLock.acquire(root, "vm1", SHORT).close();
        }
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) {
            VmLock.acquire(root, "vm1", SHORT).close();
        }
        double micros = (System.nanoTime() - start) / 1000.0 / n;
        System.out.printf("VmLock acquire+release: %.1f us (mean of %d)%n", micros, n);
        assertTrue(VmLock.holderPid(VmLock.lockFile(root, "vm1")).isEmpty());
    }
}
