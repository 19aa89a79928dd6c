package io.hvspi.sim.clh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CyclicBarrier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two closes at once, as in {@code hvctl run --simulate}: after {@code vmm.shutdown}
 * the simulator's own exit thread closes it (like the real process exiting) while
 * its owner closes it and then deletes the directory, which holds the guest's
 * placeholder files. The socket and the directory go, and no close reports a
 * failure (CI once printed "cannot remove ... NoSuchFileException" from the
 * close that came second, walking the directory the owner was deleting).
 */
class ClhSimulatorCloseTest {
    @Test
    void theExitThreadsCloseAndTheOwnersCleanupDoNotCollide(@TempDir Path tmp) throws Exception {
        PrintStream saved = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            for (int round = 0; round < 100; round++) {
                Path dir = tmp.resolve("sim" + round);
                ClhSimulator sim = ClhSimulator.start(dir);
                Path placeholder = Files.writeString(dir.resolve("vmlinux.placeholder"), "");
                CyclicBarrier together = new CyclicBarrier(2);
                Thread exitThread = Thread.ofPlatform().start(() -> {
                    await(together);
                    sim.close();
                });
                await(together);
                sim.close();
                Files.delete(placeholder);
                Files.delete(dir);
                exitThread.join(Duration.ofSeconds(30));
                assertFalse(exitThread.isAlive(), "round " + round + ": the exit thread's close did not return");
                assertTrue(sim.isShutdown());
                assertFalse(Files.exists(dir), "round " + round + ": " + dir + " is left");
            }
        } finally {
            System.setErr(saved);
        }
        assertEquals("", captured.toString(StandardCharsets.UTF_8).lines()
                .filter(l -> l.contains("cannot remove") || l.contains("did not stop")).collect(Collectors.joining("\n")));
    }

    @Test
    void closingTwiceRemovesTheDirectoryItMadeOnce(@TempDir Path tmp) {
        Path dir = tmp.resolve("sim");
        ClhSimulator sim = ClhSimulator.start(dir);
        sim.close();
        assertFalse(Files.exists(dir));
        sim.close();
        assertTrue(sim.isShutdown());
    }

    private static void await(CyclicBarrier barrier) {
        try {
            barrier.await();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
