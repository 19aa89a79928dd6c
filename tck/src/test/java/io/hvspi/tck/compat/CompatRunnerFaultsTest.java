package io.hvspi.tck.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.Capability;
import io.hvspi.tck.TckKit;
import io.hvspi.tck.backend.GenericTckBackend;
import io.hvspi.tck.fault.FaultFactory;
import io.hvspi.tck.fault.FaultFactory.Fault;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The runner against a third party's bugs, one plugin each: the bug fails that plugin's
 * column (an error with one line naming it, or failed tests), never the run, never the
 * other plugins' results, and no VMM of it is left running.
 *
 * <p>Two runs, so that no verdict depends on the machine's speed: the plugins that finish the
 * kit run with a deadline they never come near; the ones that hang run with a short one, and
 * each hangs in its first call (a {@code description()}, the first {@code create}, the first
 * {@code stop}, which the kit waits for longer than that deadline), so the deadline is certain
 * to hit them and only them.
 */
class CompatRunnerFaultsTest {
    /** Far beyond what a plugin needs for the whole kit, even on a loaded machine. */
    private static final Duration DEADLINE = Duration.ofMinutes(5);
    /** For the plugins that hang in their first call: short, so that they are given up quickly. */
    private static final Duration HANG_DEADLINE = Duration.ofSeconds(5);

    @TempDir
    static Path work;
    @TempDir
    static Path hangWork;

    static CompatRunner runner;
    static CompatReport report;
    static CompatRunner hangRunner;
    static CompatReport hangReport;
    static long hangTookNanos;
    static final List<String> progress = new CopyOnWriteArrayList<>();

    private static PluginUnderTest plugin(Fault f) {
        String id = f.name().toLowerCase().replace('_', '-');
        return new PluginUnderTest(id, "1.0.0", new FaultFactory(id, f));
    }

    @BeforeAll
    static void runTheKit() {
        assertTrue(TckKit.defaultStopTimeout().compareTo(HANG_DEADLINE) > 0,
                "the kit must wait for a hung stop longer than the short deadline");
        runner = new CompatRunner(GenericTckBackend::new, work, progress::add, DEADLINE);
        List<PluginUnderTest> plugins = new ArrayList<>();
        for (Fault f : List.of(Fault.DESC_THROW, Fault.CAPS_NULL, Fault.CREATE_OOM, Fault.STOP_SOE, Fault.NONE)) {
            plugins.add(plugin(f));
        }
        // what the plugin said about itself at load: the runner does not ask its description() (which throws) again
        plugins.add(new PluginUnderTest("desc-known", "1.0.0", new FaultFactory("desc-known", Fault.DESC_THROW),
                "desc-known", "read at load", Set.of(Capability.BLOCK_DEVICE)));
        report = runner.run(plugins);

        hangRunner = new CompatRunner(GenericTckBackend::new, hangWork, progress::add, HANG_DEADLINE);
        long start = System.nanoTime();
        // bounded: a runner that waits for a hung plugin forever fails here instead of hanging the build
        hangReport = assertTimeoutPreemptively(Duration.ofMinutes(4), () -> hangRunner.run(List.of(
                plugin(Fault.DESC_HANG), plugin(Fault.CREATE_HANG), plugin(Fault.STOP_HANG), plugin(Fault.CREATE_OOM))),
                () -> "the runner hung: " + progress);
        hangTookNanos = System.nanoTime() - start;
    }

    private static PluginRun run(CompatReport in, String id) {
        return in.plugins().stream().filter(r -> r.pluginId().equals(id)).findFirst()
                .orElseThrow(() -> new AssertionError("no column for " + id + ": " + progress));
    }

    private static PluginRun run(String id) {
        return run(report, id);
    }

    private static void assertError(PluginRun run, String reason) {
        assertEquals(PluginRun.Status.ERROR, run.status(), run::toString);
        assertTrue(run.reason().orElseThrow().startsWith(reason), () -> run.pluginId() + ": " + run.reason());
        assertTrue(run.failed());
    }

    private static void assertError(String id, String reason) {
        assertError(run(id), reason);
    }

    @Test
    void everyPluginHasItsColumnInOrder() {
        assertEquals(List.of("desc-throw", "caps-null", "create-oom", "stop-soe", "none", "desc-known"),
                report.plugins().stream().map(PluginRun::pluginId).toList());
        assertEquals(List.of("desc-hang", "create-hang", "stop-hang", "create-oom"),
                hangReport.plugins().stream().map(PluginRun::pluginId).toList());
        PluginRun good = run("none");
        assertEquals(PluginRun.Status.TESTED, good.status(), good::toString);
        assertEquals(report.tests().size(), good.results().size(), "the plugin after the faulty ones ran every test");
        assertEquals(1, report.exitCode());
    }

    @Test
    void aDescriptionThatThrowsIsThatPluginsError() {
        assertError("desc-throw", "plugin 'desc-throw': description() threw IllegalStateException: description boom");
        assertTrue(run("desc-throw").results().isEmpty());
    }

    @Test
    void aDeclarationReadAtLoadIsNotAskedAgain() {
        PluginRun known = run("desc-known");
        assertEquals(PluginRun.Status.TESTED, known.status(), known::toString);
        assertEquals("read at load", known.description());
        assertEquals(report.tests().size(), known.results().size());
    }

    @Test
    void aDescriptionThatHangsIsThatPluginsErrorWithinItsDeadline() {
        assertError(run(hangReport, "desc-hang"),
                "plugin 'desc-hang': description() did not return within " + HANG_DEADLINE.toMillis() + " ms");
    }

    @Test
    void aNullCapabilityIsDroppedAndFlagged() {
        assertError("caps-null", "plugin 'caps-null': declaredCapabilities() holds null");
        assertEquals(Set.of(Capability.BLOCK_DEVICE), run("caps-null").declared());
    }

    @Test
    void anErrorThrownByTheRunIsThatPluginsError() {
        assertError("create-oom", "plugin 'create-oom': the kit's run broke: OutOfMemoryError: plugin asked for too much");
        // and right after two plugins given up, with their runs left behind
        assertError(run(hangReport, "create-oom"),
                "plugin 'create-oom': the kit's run broke: OutOfMemoryError: plugin asked for too much");
    }

    @Test
    void aPluginThatHangsIsGivenUpAtItsDeadline() {
        String s = HANG_DEADLINE.toSeconds() + " s";
        assertError(run(hangReport, "create-hang"), "plugin 'create-hang' did not finish the kit within " + s
                + " (still in ");
        assertError(run(hangReport, "stop-hang"), "plugin 'stop-hang' did not finish the kit within " + s
                + " (still in ");
        // three plugins given up at 5 s each, and one that broke at once
        assertTrue(hangTookNanos < TimeUnit.SECONDS.toNanos(120), () -> "the run took " + hangTookNanos / 1e9 + " s");
    }

    @Test
    void aStopThatThrowsFailsItsTestsAndItsVmmsAreEnded() {
        PluginRun soe = run("stop-soe");
        assertEquals(PluginRun.Status.TESTED, soe.status(), soe::toString);
        List<String> failures = soe.results().values().stream().filter(t -> t.outcome() == TestResult.Outcome.FAILED)
                .map(t -> t.message().orElse("")).toList();
        assertFalse(failures.isEmpty(), () -> "no failed test: " + soe.results());
        // a test that stops its VM itself fails with the plugin's error (the fault plugin fails some contracts of
        // its own too); one whose VM the kit stops after it fails naming the kit's fallback
        assertTrue(failures.stream().anyMatch(m -> m.contains("failed: StackOverflowError")
                && m.contains("the kit ended its VMM by signal")), failures::toString);
    }

    @Test
    void noVmmOfAnyPluginIsLeftAndNoDirectoryKept() {
        assertEquals(List.of(), FaultFactory.vmmsLeftUnder(work, Duration.ofSeconds(30)), "VMMs left running");
        assertEquals(List.of(), FaultFactory.vmmsLeftUnder(hangWork, Duration.ofSeconds(30)), "VMMs left running");
        assertEquals(List.of(), runner.kept());
        assertEquals(List.of(), hangRunner.kept());
        for (String id : List.of("stop-soe", "none")) {
            assertFalse(Files.exists(work.resolve(id)), () -> id + "'s work directory is still there");
        }
    }

    /**
     * The runs given up go on after the runner closed their backends: once their threads are done,
     * nothing of them is left under the work root (no runtime root or {@code .locks} made again under
     * a directory already removed, no simulator started).
     */
    @Test
    void aRunGivenUpMakesNothingAgainUnderItsRemovedDirectory() {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (launchesAlive() && System.nanoTime() < deadline) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
        }
        for (String id : List.of("create-hang", "stop-hang")) {
            assertFalse(Files.exists(hangWork.resolve(id)), () -> id + "'s work directory was made again: "
                    + tree(hangWork.resolve(id)));
        }
    }

    /** Whether a launch of the kit still runs (a thread of a run given up, before its own cleanup ended). */
    private static boolean launchesAlive() {
        return Thread.getAllStackTraces().keySet().stream()
                .anyMatch(t -> t.getName().equals("hvspi-compat-create-hang") || t.getName().equals("hvspi-compat-stop-hang"));
    }

    private static List<String> tree(Path dir) {
        try (var s = Files.walk(dir)) {
            return s.map(Path::toString).toList();
        } catch (java.io.IOException e) {
            return List.of(e.toString());
        }
    }
}
