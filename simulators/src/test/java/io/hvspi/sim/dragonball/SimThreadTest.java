package io.hvspi.sim.dragonball;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The simulator's stand-in threads: named in {@code /proc} while they run, gone from it once stopped. */
class SimThreadTest {
    @Test
    void aStoppedThreadIsGoneFromProcWhenStopReturns() throws Exception {
        // many rounds: Thread.join returns before the kernel task is removed, a window of microseconds
        for (int i = 0; i < 300; i++) {
            SimThread t = SimThread.start("blk_iothread_q0");
            Path task = Path.of("/proc/self/task", Long.toString(t.tid()));
            assertEquals("blk_iothread_q0", Files.readString(task.resolve("comm")).strip());
            t.stop();
            assertFalse(Files.exists(task), "round " + i + ": task " + t.tid() + " still in /proc after stop()");
        }
    }
}
