package io.hvspi.kit.threads;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hvspi.spi.CpuSet;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** On a real child process (its only thread's tid is its pid), read back through /proc. */
class ThreadAffinityTest {
    private static final ProcTasks PROC = ProcTasks.system();
    private Process child;

    @BeforeEach
    void spawn() throws Exception {
        child = new ProcessBuilder("sleep", "60").start();
    }

    @AfterEach
    void kill() throws Exception {
        child.destroyForcibly();
        child.waitFor(10, TimeUnit.SECONDS);
    }

    @Test
    void pinnedThreadShowsTheSetInCpusAllowedList() {
        CpuSet host = ThreadAffinity.hostCpus();
        CpuSet last = CpuSet.of(host.highest());
        long tid = child.pid();
        ThreadAffinity.set(tid, last);
        assertEquals(last, PROC.affinity(tid, tid).orElseThrow());
        assertEquals(last, ThreadAffinity.get(tid));
        ThreadAffinity.set(tid, host);
        assertEquals(host, PROC.affinity(tid, tid).orElseThrow());
    }

    @Test
    void aSetOfAbsentCpusIsRefusedByTheKernel() {
        CpuSet host = ThreadAffinity.hostCpus();
        assumeTrue(host.highest() < CpuSet.MAX_CPU);
        long tid = child.pid();
        CpuSet before = PROC.affinity(tid, tid).orElseThrow();
        assertThrows(RequestRejectedException.class, () -> ThreadAffinity.set(tid, CpuSet.of(CpuSet.MAX_CPU)));
        assertEquals(before, PROC.affinity(tid, tid).orElseThrow());
    }

    @Test
    void aGoneThreadIsReportedAsExited() throws Exception {
        long tid = child.pid();
        child.destroyForcibly();
        child.waitFor(10, TimeUnit.SECONDS);
        assertEquals(VmmUnavailableException.Reason.EXITED, assertThrows(VmmUnavailableException.class,
                () -> ThreadAffinity.set(tid, CpuSet.of(0))).reason());
    }

    @Test
    void hostCpusFallBackToTheProcessorCount(@TempDir Path dir) throws Exception {
        Path online = dir.resolve("online");
        Files.writeString(online, "0-5,8\n");
        assertEquals(CpuSet.parse("0-5,8"), ThreadAffinity.hostCpus(online));
        assertEquals(Runtime.getRuntime().availableProcessors(),
                ThreadAffinity.hostCpus(dir.resolve("absent")).size());
    }
}
