package io.hvspi.kit.threads;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.CpuSet;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcTasksTest {
    @TempDir
    Path proc;

    private void task(long pid, String tid, String comm) throws Exception {
        Path dir = Files.createDirectories(proc.resolve(pid + "/task/" + tid));
        if (comm != null) {
            Files.writeString(dir.resolve("comm"), comm + "\n");
        }
    }

    @Test
    void listsEveryThreadByIdSkippingOnesThatEnded() throws Exception {
        task(10, "12", "vcpu1");
        task(10, "10", "vmm");
        task(10, "11", null); // ended while we looked: no comm
        task(10, "self", "x");
        assertEquals(List.of(new ProcTasks.Task(10, "vmm"), new ProcTasks.Task(12, "vcpu1")),
                new ProcTasks(proc).list(10));
        assertEquals(Optional.empty(), new ProcTasks(proc).comm(10, 11));
        assertTrue(new ProcTasks(proc).visible(10));
    }

    @Test
    void aGoneProcessIsExited() {
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> new ProcTasks(proc).list(99));
        assertEquals(VmmUnavailableException.Reason.EXITED, e.reason());
        assertFalse(new ProcTasks(proc).visible(99));
    }

    @Test
    void affinityIsTheStatusFilesCpusAllowedListAndEmptyWhenUnreadable() throws Exception {
        task(10, "11", "iothread");
        Files.writeString(proc.resolve("10/task/11/status"),
                "Name:\tiothread\nCpus_allowed:\t5\nCpus_allowed_list:\t0,2-3\nMems_allowed:\t1\n");
        task(10, "12", "iothread");
        Files.writeString(proc.resolve("10/task/12/status"), "Name:\tiothread\nCpus_allowed_list:\t0-x\n");
        // a /proc given with a trailing slash reads the same files
        for (ProcTasks tasks : List.of(new ProcTasks(proc), new ProcTasks(Path.of(proc + "/")))) {
            assertEquals(Optional.of(CpuSet.parse("0,2,3")), tasks.affinity(10, 11));
            assertEquals(Optional.empty(), tasks.affinity(10, 12), "not a CPU list");
            assertEquals(Optional.empty(), tasks.affinity(10, 13), "a thread that ended");
        }
    }

    @Test
    void readsTheRealProcOfThisJvm() {
        long pid = ProcessHandle.current().pid();
        List<ProcTasks.Task> tasks = ProcTasks.system().list(pid);
        assertTrue(tasks.stream().anyMatch(t -> t.tid() == pid), tasks.toString());
        assertTrue(ProcTasks.system().affinity(pid, pid).isPresent(), "this thread's affinity");
    }

    @Test
    void longNamesAreCutTo15BytesAsLinuxDoes() {
        assertEquals("scratch-volume-", ProcTasks.comm("scratch-volume-a_q0"));
        assertEquals("d0_q1", ProcTasks.comm("d0_q1"));
    }
}
