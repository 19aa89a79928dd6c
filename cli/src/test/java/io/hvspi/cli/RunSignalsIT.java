package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * SIGTERM, SIGINT and SIGHUP to the distribution's {@code hvctl run} (without --keep) at random
 * points of start and hotplug, in separate processes: afterwards no QEMU of the run is
 * alive and its runtime root holds no VM directory.
 */
class RunSignalsIT {
    /** Progress lines of hvctl run, in order: the signal follows one of them after a random delay. */
    private static final List<String> MARKERS = List.of("] config ", "] starting VM", ", VMM pid ", "] attached disk0",
            "] attached disk3", "] attached disk6");
    /** The same for hvctl run --simulate, whose simulator starts before the VM and must outlive its stop. */
    private static final List<String> SIMULATED_MARKERS = List.of("] config ", " simulator on ", "] starting VM",
            ", VMM pid ", "] attached disk0", "] attached disk6");
    private static final int RUNS = 10;

    @TempDir
    Path tmp;

    @ParameterizedTest
    @CsvSource({"TERM, 143, 1", "INT, 130, 2", "HUP, 129, 3"})
    void aSignalDuringStartOrHotplugLeavesNothingBehind(String signal, int signalExit, long seed) throws Exception {
        signalRuns(signal, signalExit, seed, MARKERS, "--accel", "tcg");
    }

    /** The simulator's directory sits beside the VM's; the host removes it after the VM's stop on exit. */
    @ParameterizedTest
    @CsvSource({"TERM, 143, 4, configuration-clh.toml", "INT, 130, 5, configuration-dragonball.toml"})
    void aSignalDuringASimulatedRunLeavesNothingBehind(String signal, int signalExit, long seed, String config)
            throws Exception {
        signalRuns(signal, signalExit, seed, SIMULATED_MARKERS, HvctlRunner.fixture(config).toString(), "--simulate");
    }

    private void signalRuns(String signal, int signalExit, long seed, List<String> markers, String... runArgs)
            throws Exception {
        Random random = new Random(seed);
        int interrupted = 0;
        for (int run = 0; run < RUNS; run++) {
            String marker = markers.get(random.nextInt(markers.size()));
            long delayNanos = TimeUnit.MICROSECONDS.toNanos(random.nextInt(30_000));
            Path runtime = tmp.resolve(signal.toLowerCase() + run);
            String what = "run " + run + ": SIG" + signal + " " + delayNanos / 1000 + " us after '" + marker + "'";
            int exit = runAndSignal(runtime, signal, marker, delayNanos, what, runArgs);
            assertTrue(exit == signalExit || exit == 0, what + ": exit " + exit);
            if (exit == signalExit) {
                interrupted++;
            }
            RunLeftovers.assertNone(runtime, what);
        }
        assertTrue(interrupted >= RUNS / 2, "only " + interrupted + " of " + RUNS + " runs were interrupted");
    }

    private static int runAndSignal(Path runtime, String signal, String marker, long delayNanos, String what,
                                    String... runArgs) throws IOException, InterruptedException {
        // env restores the signal's default disposition: an ignored signal stays ignored across exec (nohup
        // ignores HUP, a background job of a non-interactive shell INT and QUIT), and the JVM then leaves it
        // ignored, so a test run started that way would see every run finish; env execs, so p.pid() is hvctl's
        List<String> command = new ArrayList<>(List.of("env", "--default-signal=" + signal,
                HvctlRunner.home().resolve("bin/hvctl").toString(), "run"));
        command.addAll(List.of(runArgs));
        command.addAll(List.of("--disks", "8", "--runtime-dir", runtime.toString()));
        ProcessBuilder pb = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().put("HVSPI_JAVA_HOME", System.getProperty("java.home"));
        Process p = pb.start();
        StringBuilder err = new StringBuilder();
        boolean sent = false;
        try (BufferedReader lines = new BufferedReader(
                new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = lines.readLine()) != null) {
                err.append(line).append('\n');
                if (!sent && line.contains(marker)) {
                    // the delay only picks the point; nothing waits for anything here
                    LockSupport.parkNanos(delayNanos);
                    kill(signal, p.pid());
                    sent = true;
                }
            }
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), what + "\n" + err);
        } finally {
            p.destroyForcibly();
        }
        assertTrue(sent, what + ": the marker never came\n" + err);
        // a stop on exit that found its VMM gone (a simulator closed too early) would warn
        assertFalse(err.toString().contains("warning:"), what + "\n" + err);
        return p.exitValue();
    }

    private static void kill(String signal, long pid) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).inheritIO().start();
        assertTrue(kill.waitFor(10, TimeUnit.SECONDS));
    }
}
