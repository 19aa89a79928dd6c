package io.hvspi.tck.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.Capability;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.PluginException;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import io.hvspi.tck.backend.GenericTckBackend;
import io.hvspi.tck.backend.QemuTckBackend;
import io.hvspi.tck.backend.TckBackend;
import io.hvspi.example.memvm.MemVmHypervisorFactory;
import io.hvspi.example.memvm.MemVmLiarFactory;
import io.hvspi.example.memvm.MemVmQueuesFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The runner against class-path plugins: honest ones, a liar, one that cannot run here, one that breaks. */
class CompatRunnerTest {
    @TempDir
    static Path work;

    static CompatReport report;
    static final List<String> progress = new ArrayList<>();

    /** A plugin whose VMs cannot be made, like the skeleton's factories before their issue lands. */
    static final class StubFactory implements HypervisorFactory {
        private final String type;

        StubFactory(String type) {
            this.type = type;
        }

        @Override
        public String type() {
            return type;
        }

        @Override
        public Set<Capability> declaredCapabilities() {
            return EnumSet.of(Capability.BLOCK_DEVICE, Capability.BLOCK_DEVICE_HOTPLUG);
        }

        @Override
        public Hypervisor create(VmSpec spec, HostContext host) {
            throw new PluginException(type + ": VM operations are not implemented yet");
        }

        @Override
        public Hypervisor reattach(VmRecord record, HostContext host) {
            throw new PluginException(type + ": VM operations are not implemented yet");
        }
    }

    @BeforeAll
    static void runTheKit() {
        CompatRunner runner = new CompatRunner(CompatRunnerTest::backend, work, progress::add);
        report = runner.run(List.of(
                new PluginUnderTest("memvm", "1.0.0", new MemVmHypervisorFactory()),
                new PluginUnderTest("memvm-queues", "1.0.0", new MemVmQueuesFactory()),
                new PluginUnderTest("memvm-liar", "1.0.0", new MemVmLiarFactory()),
                new PluginUnderTest("ghost", "0.1", new StubFactory("ghost")),
                new PluginUnderTest("stub", "0.1", new StubFactory("stub")),
                new PluginUnderTest("broken", "0.1", new StubFactory("broken"))));
    }

    private static TckBackend backend(HypervisorFactory factory, Path dir) {
        return switch (factory.type()) {
            case "ghost" -> new QemuTckBackend(factory, dir.resolve("no-such-qemu"), dir);
            case "broken" -> throw new IllegalStateException("simulator socket refused");
            default -> new GenericTckBackend(factory, dir);
        };
    }

    private static PluginRun run(String type) {
        return report.plugins().stream().filter(r -> r.type().equals(type)).findFirst().orElseThrow();
    }

    private static TestResult result(String type, String testId) {
        TestCase test = report.tests().stream().filter(t -> t.id().equals(testId)).findFirst()
                .orElseThrow(() -> new AssertionError("no test " + testId + " in " + report.tests()));
        return run(type).result(test).orElseThrow(() -> new AssertionError(type + " has no result for " + testId));
    }

    @Test
    void catalogueHasEveryContractTestOnceWithItsCapability() {
        assertEquals(report.tests().size(), report.tests().stream().map(TestCase::id).distinct().count());
        assertTrue(report.tests().size() >= 35, () -> "the kit shrank: " + report.tests().size());
        TestCase move = report.tests().stream().filter(t -> t.id().equals("iothreads.moveChangesTheDevicesIOThread"))
                .findFirst().orElseThrow();
        assertEquals(Capability.IOTHREAD_MOVE, move.capability().orElseThrow());
        assertEquals("move puts an attached device on another IOThread", move.name());
        assertEquals(List.of(Capability.FS_SHARING, Capability.HYBRID_VSOCK, Capability.GUEST_MEMORY_PROBE),
                report.notExercised());
    }

    @Test
    void honestPluginsPassEveryTest() {
        for (String type : List.of("memvm", "memvm-queues")) {
            PluginRun run = run(type);
            assertEquals(PluginRun.Status.TESTED, run.status());
            assertFalse(run.failed(), () -> type + " failed: " + run.results());
            assertEquals(report.tests().size(), run.results().size(), "every test has a result");
            assertEquals(run.declared(), run.effective().orElseThrow(), "the effective set comes from the kit's note");
        }
    }

    @Test
    void unsupportedCapabilitiesAreReportedAsSuchNotAsPassed() {
        assertEquals(TestResult.Outcome.PASSED, result("memvm", "iothreads.ioThreadsAreAddedAndRemoved").outcome());
        TestResult queues = result("memvm-queues", "iothreads.ioThreadsAreAddedAndRemoved");
        assertEquals(TestResult.Outcome.UNSUPPORTED, queues.outcome());
        assertEquals("independent-iothreads", queues.message().orElseThrow(), "the pool view is what is missing");
        assertEquals(TestResult.Outcome.UNSUPPORTED, result("memvm", "hotplug.perQueueWorkersAreListed").outcome());
        assertEquals(TestResult.Outcome.PASSED, result("memvm-queues", "hotplug.perQueueWorkersAreListed").outcome());

        assertEquals(CapabilityVerdict.PASSED, verdict("memvm", Capability.IOTHREAD_MOVE));
        assertEquals(CapabilityVerdict.UNSUPPORTED, verdict("memvm-queues", Capability.IOTHREAD_MOVE));
        assertEquals(CapabilityVerdict.PASSED, verdict("memvm-queues", Capability.QUEUE_AFFINITY));
        assertEquals(CapabilityVerdict.NOT_DECLARED, verdict("memvm", Capability.HYBRID_VSOCK));
        assertEquals(CapabilityVerdict.PASSED, verdict("memvm", Capability.BLOCK_DEVICE));
        assertEquals(CapabilityVerdict.UNSUPPORTED, verdict("memvm", Capability.BLOCK_DEVICE_DISCARD));
    }

    @Test
    void aWrongDeclarationFailsInBothDirections() {
        PluginRun liar = run("memvm-liar");
        assertTrue(liar.failed());
        TestResult move = result("memvm-liar", "iothreads.moveChangesTheDevicesIOThread");
        assertEquals(TestResult.Outcome.FAILED, move.outcome(), "declared move that does not work");
        assertTrue(move.message().orElseThrow().contains("UnsupportedCapabilityException"), move.message()::get);
        TestResult polling = result("memvm-liar", "iothreads.pollingParametersAreApplied");
        assertEquals(TestResult.Outcome.FAILED, polling.outcome(), "undeclared polling that silently works");
        assertTrue(polling.message().orElseThrow().contains("must fail with UnsupportedCapabilityException"),
                polling.message()::get);
        assertEquals(CapabilityVerdict.FAILED, verdict("memvm-liar", Capability.IOTHREAD_MOVE));
        assertEquals(CapabilityVerdict.FAILED, verdict("memvm-liar", Capability.IOTHREAD_POLLING));
        assertEquals(CapabilityVerdict.PASSED, verdict("memvm-liar", Capability.INDEPENDENT_IOTHREADS));
        assertEquals(1, report.exitCode());
    }

    @Test
    void aPluginThatCannotRunHereIsUnavailableNotPassed() {
        PluginRun ghost = run("ghost");
        assertEquals(PluginRun.Status.UNAVAILABLE, ghost.status());
        assertTrue(ghost.reason().orElseThrow().startsWith("no executable QEMU at "), ghost.reason()::get);
        assertTrue(ghost.results().isEmpty());
        assertFalse(ghost.failed(), "unavailable is reported, not failed");
        assertEquals(CapabilityVerdict.UNAVAILABLE, verdict("ghost", Capability.BLOCK_DEVICE_HOTPLUG));
        assertTrue(progress.contains("ghost: unavailable: " + ghost.reason().get()), () -> String.join("\n", progress));
    }

    @Test
    void aFactoryThatCannotMakeVmsFailsItsVmTestsWithTheReason() {
        TestResult attach = result("stub", "hotplug.attachListAndDetach");
        assertEquals(TestResult.Outcome.FAILED, attach.outcome());
        assertEquals("PluginException: stub: VM operations are not implemented yet", attach.message().orElseThrow());
        assertEquals(TestResult.Outcome.PASSED, result("stub", "declaration.declarationIsConsistent").outcome());
        assertEquals(CapabilityVerdict.FAILED, verdict("stub", Capability.BLOCK_DEVICE_HOTPLUG));
    }

    @Test
    void aBackendThatBreaksIsAnErrorThatFailsTheRun() {
        PluginRun broken = run("broken");
        assertEquals(PluginRun.Status.ERROR, broken.status());
        assertEquals("cannot set up a backend: IllegalStateException: simulator socket refused", broken.reason().orElseThrow());
        assertTrue(broken.failed());
    }

    @Test
    void theReportIsWrittenInThreeFormats() throws Exception {
        // under target/ so that a person can open the page after a build
        Path out = Path.of("target", "compat-sample");
        List<Path> files = report.writeAll(out);
        assertEquals(CompatReport.FILE_NAMES, files.stream().map(p -> p.getFileName().toString()).toList());
        for (Path f : files) {
            assertTrue(Files.size(f) > 1000, () -> f + " is too small");
        }
        String html = Files.readString(out.resolve("compat.html"));
        assertTrue(html.contains("<th>memvm-liar</th>"), "the liar is a column");
        assertTrue(html.contains("UnsupportedCapabilityException"), "its failure is explained");
    }

    @Test
    void backendsCleanUpTheirWorkDirectories() throws Exception {
        try (var dirs = Files.list(work)) {
            List<Path> found = dirs.sorted().toList();
            // each of the six plugins got a directory; the five whose backend opened removed it on close, and
            // only the one whose backend broke before it existed is left (empty): an empty work root must not pass
            assertEquals(List.of("memvm", "memvm-queues", "memvm-liar", "ghost", "stub", "broken"),
                    report.plugins().stream().map(PluginRun::pluginId).toList());
            assertEquals(List.of("broken"), found.stream().map(p -> p.getFileName().toString()).toList());
            for (Path dir : found) {
                try (var left = Files.list(dir)) {
                    assertEquals(List.of(), left.toList(), () -> dir + " was left with files");
                }
            }
        }
    }

    private static CapabilityVerdict verdict(String type, Capability c) {
        return run(type).verdict(c, report.testsFor(c));
    }
}
