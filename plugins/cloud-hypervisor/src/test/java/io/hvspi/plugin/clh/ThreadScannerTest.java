package io.hvspi.plugin.clh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.hvspi.plugin.clh.threads.ThreadScanner;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.HostThreads.HostThread;
import io.hvspi.spi.HostThreads.Role;
import io.hvspi.spi.VmmUnavailableException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Thread identification on a /proc tree laid out like Cloud Hypervisor's (names as the kernel truncates them). */
class ThreadScannerTest {
    @TempDir
    Path proc;

    private void task(long pid, long tid, String comm) throws IOException {
        Path dir = Files.createDirectories(proc.resolve(pid + "/task/" + tid));
        Files.writeString(dir.resolve("comm"), comm + "\n");
    }

    @Test
    void rolesAndOwnersComeFromTheThreadNames() throws IOException {
        task(100, 100, "cloud-hyperviso");
        task(100, 101, "vmm");
        task(100, 102, "http-server");
        task(100, 110, "vcpu1");
        task(100, 109, "vcpu0");
        task(100, 120, "disk0_q1");
        task(100, 121, "disk0_q0");
        task(100, 130, "other_q0");
        HostThreads threads = new ThreadScanner(proc).scan(100, List.of(new ThreadScanner.Disk("disk0", 2)));
        assertEquals(100, threads.pid());
        assertEquals(List.of(
                new HostThread(100, "cloud-hyperviso", Role.MAIN, Optional.empty()),
                new HostThread(109, "vcpu0", Role.VCPU, Optional.of("0")),
                new HostThread(110, "vcpu1", Role.VCPU, Optional.of("1")),
                new HostThread(121, "disk0_q0", Role.QUEUE_WORKER, Optional.of("disk0")),
                new HostThread(120, "disk0_q1", Role.QUEUE_WORKER, Optional.of("disk0"))), threads.threads(),
                "unidentified threads, and workers of devices hvspi did not attach, are left out");
    }

    @Test
    void truncatedNamesThatTwoDevicesShareHaveNoOwner() throws IOException {
        task(7, 7, "cloud-hyperviso");
        task(7, 8, "scratch-volume-");
        HostThreads threads = new ThreadScanner(proc).scan(7, List.of(
                new ThreadScanner.Disk("scratch-volume-a", 1), new ThreadScanner.Disk("scratch-volume-b", 1)));
        assertEquals(List.of(new HostThread(8, "scratch-volume-", Role.QUEUE_WORKER, Optional.empty())),
                threads.withRole(Role.QUEUE_WORKER));
        assertEquals("scratch-volume-", io.hvspi.kit.threads.ProcTasks.comm("scratch-volume-a_q0"));
    }

    @Test
    void aProcessThatIsGoneIsReportedAsExited() {
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                () -> new ThreadScanner(proc).scan(4242, List.of()));
        assertEquals(VmmUnavailableException.Reason.EXITED, e.reason());
    }
}
