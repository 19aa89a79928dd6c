package io.hvspi.kit.threads;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hvspi.spi.CpuSet;
import io.hvspi.spi.HvspiException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Against the host's real hierarchy (cgroup v1 cpuset on the build machines), in a test group removed after. */
class CgroupPlacementTest {
    private static final ProcTasks PROC = ProcTasks.system();

    @Test
    void threadPlacedInANewGroupIsListedThereAndTakesItsCpus() throws Exception {
        placeInto(CgroupPlacement.detect());
    }

    /**
     * cgroup v2's threaded mode, on the host's v2 hierarchy: the whole of /sys/fs/cgroup on a
     * v2 host, the (controller-less) unified mount on a hybrid one like the build machines.
     */
    @Test
    void threadPlacedInAThreadedV2GroupIsListedThere() throws Exception {
        Optional<CgroupPlacement> v2 = CgroupPlacement.detect()
                .filter(c -> c.mode() == CgroupPlacement.Mode.V2_THREADED)
                .or(() -> CgroupPlacement.detect(Path.of("/sys/fs/cgroup/unified")));
        assumeTrue(v2.isPresent() && PROC.cgroups(ProcessHandle.current().pid(), ProcessHandle.current().pid())
                .contains("0::/"), "needs a v2 hierarchy whose root holds this process (its threaded domain)");
        placeInto(v2);
        assertEquals(CgroupPlacement.Mode.V2_THREADED, v2.get().mode());
    }

    private static void placeInto(Optional<CgroupPlacement> found) throws Exception {
        assumeTrue(found.isPresent() && Files.isWritable(found.get().directory("/x").getParent()),
                "needs a writable cgroup hierarchy");
        CgroupPlacement cg = found.get();
        String parent = "/hvspi-kit-test-" + ProcessHandle.current().pid();
        String group = parent + "/io";
        CpuSet one = CpuSet.of(ThreadAffinity.hostCpus().highest());
        Process child = new ProcessBuilder("sleep", "60").start();
        long tid = child.pid();
        try {
            cg.prepare(group, Optional.of(one));
            cg.place(group, tid);
            assertEquals(List.of(tid), cg.threads(group));
            assertEquals(Optional.of(group), cg.where(PROC, tid, tid));
            if (cg.mode() == CgroupPlacement.Mode.V2_THREADED) {
                assertEquals("threaded", Files.readString(cg.directory(group).resolve("cgroup.type")).strip());
            } else {
                assertEquals(one.toString(), Files.readString(cg.directory(group).resolve("cpuset.cpus")).strip());
                assertEquals(Optional.of(one), cg.effectiveCpus(group));
                // entering a cpuset narrows the thread's affinity to the group's CPUs
                assertEquals(one, PROC.affinity(tid, tid).orElseThrow());
            }
            assertThrows(HvspiException.class, () -> cg.remove(group), "a group with a thread is not removed");
        } finally {
            child.destroyForcibly();
            child.waitFor(10, TimeUnit.SECONDS);
            removeWhenEmpty(cg, group);
            cg.remove(parent);
        }
        assertFalse(Files.exists(cg.directory(parent)));
    }

    /** A reaped thread leaves its cgroup's list at once; the poll only covers a slow kernel. */
    static void removeWhenEmpty(CgroupPlacement cg, String group) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (true) {
            try {
                cg.remove(group);
                return;
            } catch (HvspiException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                java.util.concurrent.locks.LockSupport.parkNanos(10_000_000);
            }
        }
    }

    @Test
    void detectsV2BeforeV1AndNothingElse(@TempDir Path dir) throws Exception {
        assertTrue(CgroupPlacement.detect(dir).isEmpty());
        Files.createDirectories(dir.resolve("cpuset"));
        Files.writeString(dir.resolve("cpuset/tasks"), "");
        Files.writeString(dir.resolve("cpuset/cpuset.cpus"), "0-1");
        assertEquals(CgroupPlacement.Mode.V1_CPUSET, CgroupPlacement.detect(dir).orElseThrow().mode());
        Files.writeString(dir.resolve("cgroup.controllers"), "cpuset cpu");
        assertEquals(CgroupPlacement.Mode.V2_THREADED, CgroupPlacement.detect(dir).orElseThrow().mode());
    }

    @Test
    void readsTheLineOfItsHierarchy() {
        List<String> lines = List.of("12:pids:/a", "5:cpuset,cpu:/kata/io", "0::/unified/x");
        assertEquals(Optional.of("/kata/io"), CgroupPlacement.where(lines, CgroupPlacement.Mode.V1_CPUSET));
        assertEquals(Optional.of("/unified/x"), CgroupPlacement.where(lines, CgroupPlacement.Mode.V2_THREADED));
        assertEquals(Optional.empty(), CgroupPlacement.where(List.of("1:name=systemd:/"),
                CgroupPlacement.Mode.V1_CPUSET));
    }

    @Test
    void refusesPathsThatLeaveTheHierarchy(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("cgroup.controllers"), "");
        CgroupPlacement cg = CgroupPlacement.detect(dir).orElseThrow();
        assertThrows(IllegalArgumentException.class, () -> cg.directory("/a/../../etc"));
        assertThrows(IllegalArgumentException.class, () -> cg.directory("a"));
    }
}
