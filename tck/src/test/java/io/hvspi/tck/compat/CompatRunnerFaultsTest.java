package io.hvspi.tck.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.Capability;
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
 */
class CompatRunnerFaultsTest {
    /** Short, so that the plugins that hang are given up quickly. */
    private static final Duration DEADLINE = Duration.ofSeconds(8);

    @TempDir
    static Path work;

    static CompatRunner runner;
    static CompatReport report;
    static long tookNanos;
    static final List<String> progress = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void runTheKit() {
        runner = new CompatRunner(GenericTckBackend::new, work, progress::add, DEADLINE);
        List<PluginUnderTest> plugins = new ArrayList<>();
        for (Fault f : List.of(Fault.DESC_THROW, Fault.CAPS_NULL, Fault.CREATE_OOM, Fault.CREATE_HANG,
                Fault.STOP_HANG, Fault.STOP_SOE, Fault.NONE)) {
            String id = f.name().toLowerCase().replace('_', '-');
            plugins.add(new PluginUnderTest(id, "1.0.0", new FaultFactory(id, f)));
        }
        long start = System.nanoTime();
        report = runner.run(plugins);
        tookNanos = System.nanoTime() - start;
    }

    private static PluginRun run(String id) {
        return report.plugins().stream().filter(r -> r.pluginId().equals(id)).findFirst()
                .orElseThrow(() -> new AssertionError("no column for " + id + ": " + progress));
    }

    private static void assertError(String id, String reason) {
        PluginRun run = run(id);
        assertEquals(PluginRun.Status.ERROR, run.status(), () -> id + ": " + run);
        assertTrue(run.reason().orElseThrow().startsWith(reason), () -> id + ": " + run.reason());
        assertTrue(run.failed());
    }

    @Test
    void everyPluginHasItsColumnInOrder() {
        assertEquals(List.of("desc-throw", "caps-null", "create-oom", "create-hang", "stop-hang", "stop-soe", "none"),
                report.plugins().stream().map(PluginRun::pluginId).toList());
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
    void aNullCapabilityIsDroppedAndFlagged() {
        assertError("caps-null", "plugin 'caps-null': declaredCapabilities() holds null");
        assertEquals(Set.of(Capability.BLOCK_DEVICE), run("caps-null").declared());
    }

    @Test
    void anErrorThrownByTheRunIsThatPluginsError() {
        assertError("create-oom", "plugin 'create-oom': the kit's run broke: OutOfMemoryError: plugin asked for too much");
    }

    @Test
    void aPluginThatHangsIsGivenUpAtItsDeadline() {
        assertError("create-hang", "plugin 'create-hang' did not finish the kit within 8 s (still in ");
        assertError("stop-hang", "plugin 'stop-hang' did not finish the kit within 8 s (still in ");
        // two plugins given up at 8 s each, and three that ran (about 20 s here)
        assertTrue(tookNanos < TimeUnit.SECONDS.toNanos(120), () -> "the run took " + tookNanos / 1e9 + " s");
    }

    @Test
    void aStopThatThrowsFailsItsTestsAndItsVmmsAreEnded() {
        PluginRun soe = run("stop-soe");
        assertEquals(PluginRun.Status.TESTED, soe.status(), soe::toString);
        TestResult r = soe.results().values().stream().filter(t -> t.outcome() == TestResult.Outcome.FAILED)
                .findFirst().orElseThrow(() -> new AssertionError("no failed test: " + soe.results()));
        assertTrue(r.message().orElseThrow().contains("failed: StackOverflowError"), r.message()::get);
        assertTrue(r.message().orElseThrow().contains("the kit ended its VMM by signal"), r.message()::get);
    }

    @Test
    void noVmmOfAnyPluginIsLeftAndNoDirectoryKept() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!FaultFactory.vmmsUnder(work).isEmpty() && System.nanoTime() < deadline) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
        }
        List<String> left = FaultFactory.vmmsUnder(work).stream()
                .map(p -> p.pid() + " " + p.info().commandLine().orElse("?")).toList();
        assertEquals(List.of(), left, "VMMs left running");
        assertEquals(List.of(), runner.kept());
        for (String id : List.of("stop-soe", "stop-hang", "none")) {
            assertTrue(!Files.exists(work.resolve(id).resolve("run")) || isEmptyButLocks(work.resolve(id).resolve("run")),
                    () -> id + "'s runtime root still has VMs");
        }
    }

    private static boolean isEmptyButLocks(Path root) throws java.io.IOException {
        try (var s = Files.list(root)) {
            return s.allMatch(p -> p.getFileName().toString().startsWith("."));
        }
    }
}
