package io.hvspi.tck.compat;

import io.hvspi.core.plugin.PluginCall;
import io.hvspi.spi.Capability;
import io.hvspi.tck.Contract;
import io.hvspi.tck.Exercises;
import io.hvspi.tck.TckKit;
import java.lang.reflect.Method;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.reporting.ReportEntry;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;

/** Turns one launch of the kit into {@link TestCase}s and {@link TestResult}s. */
final class ResultCollector implements TestExecutionListener {
    /** A failure message longer than this is cut: the report is a matrix, not a log. */
    private static final int MAX_MESSAGE = 600;

    private TestPlan plan;
    private final Map<String, TestCase> cases = new LinkedHashMap<>();
    private final Map<String, TestResult> results = new ConcurrentHashMap<>();
    private final Map<String, Long> startedAt = new ConcurrentHashMap<>();
    private final Map<String, String> paths = new ConcurrentHashMap<>();
    private volatile Set<Capability> effective;
    /** The test running now, if one is. */
    private volatile String running;
    /** The test that finished last. */
    private volatile String finished;

    /** The kit's tests in a plan, in execution order. */
    static List<TestCase> catalogue(TestPlan plan) {
        List<TestCase> out = new ArrayList<>();
        for (TestIdentifier root : plan.getRoots()) {
            walk(plan, root, out);
        }
        return out;
    }

    private static void walk(TestPlan plan, TestIdentifier id, List<TestCase> out) {
        if (id.isTest()) {
            toCase(id).ifPresent(out::add);
        }
        for (TestIdentifier child : plan.getChildren(id)) {
            walk(plan, child, out);
        }
    }

    private static Optional<TestCase> toCase(TestIdentifier id) {
        if (!(id.getSource().orElse(null) instanceof MethodSource source)) {
            return Optional.empty();
        }
        Method method = source.getJavaMethod();
        Contract contract = contractOf(method.getDeclaringClass());
        String group = contract == null ? "other" : contract.value();
        String title = contract == null ? "Other" : contract.title();
        Optional<Capability> capability = Optional.ofNullable(method.getAnnotation(Exercises.class)).map(Exercises::value);
        return Optional.of(new TestCase(group + "." + method.getName(), group, title, id.getDisplayName(), capability));
    }

    private static Contract contractOf(Class<?> type) {
        for (Class<?> c = type; c != null; c = c.getSuperclass()) {
            Contract contract = c.getAnnotation(Contract.class);
            if (contract != null) {
                return contract;
            }
        }
        return null;
    }

    @Override
    public void testPlanExecutionStarted(TestPlan testPlan) {
        this.plan = testPlan;
        for (TestIdentifier root : testPlan.getRoots()) {
            index(root);
        }
    }

    private void index(TestIdentifier id) {
        if (id.isTest()) {
            toCase(id).ifPresent(c -> cases.put(id.getUniqueId(), c));
        }
        plan.getChildren(id).forEach(this::index);
    }

    @Override
    public void executionStarted(TestIdentifier id) {
        startedAt.put(id.getUniqueId(), System.nanoTime());
        if (id.isTest()) {
            running = nameOf(id);
        }
    }

    /**
     * Where the launch is, for a plugin that hangs: the test running now; between and after tests
     * the kit's cleanup ({@code @AfterAll}, the backend's close), named with the test before it;
     * before the first test, the kit's setup.
     */
    String where() {
        String test = running;
        if (test != null) {
            return test;
        }
        String last = finished;
        return last == null ? "the kit's setup" : "the kit's cleanup, after " + last;
    }

    private String nameOf(TestIdentifier id) {
        return Optional.ofNullable(cases.get(id.getUniqueId())).map(TestCase::id).orElse(id.getDisplayName());
    }

    @Override
    public void reportingEntryPublished(TestIdentifier id, ReportEntry entry) {
        if (results.containsKey(id.getUniqueId())) {
            return; // from a test thread abandoned past its timeout: its test has its result already
        }
        Map<String, String> kv = entry.getKeyValuePairs();
        String path = kv.get(TckKit.PATH_ENTRY);
        if (path != null && !path.equals("supported")) {
            paths.put(id.getUniqueId(), path);
        }
        String eff = kv.get(TckKit.EFFECTIVE_ENTRY);
        if (eff != null) {
            Set<Capability> set = EnumSet.noneOf(Capability.class);
            Arrays.stream(eff.split(",")).filter(k -> !k.isBlank())
                    .forEach(k -> Arrays.stream(Capability.values()).filter(c -> c.key().equals(k)).forEach(set::add));
            effective = set;
        }
    }

    @Override
    public void executionSkipped(TestIdentifier id, String reason) {
        forTests(id, uid -> results.putIfAbsent(uid, new TestResult(TestResult.Outcome.SKIPPED, Optional.of(reason),
                Duration.ZERO)));
    }

    @Override
    public void executionFinished(TestIdentifier id, TestExecutionResult result) {
        Duration took = Optional.ofNullable(startedAt.get(id.getUniqueId()))
                .map(s -> Duration.ofNanos(System.nanoTime() - s)).orElse(Duration.ZERO);
        Optional<String> message = result.getThrowable().map(ResultCollector::describe);
        if (id.isTest()) {
            String test = nameOf(id);
            finished = test;
            if (test.equals(running)) {
                running = null;
            }
            results.put(id.getUniqueId(), switch (result.getStatus()) {
                case SUCCESSFUL -> Optional.ofNullable(paths.get(id.getUniqueId()))
                        .map(p -> new TestResult(TestResult.Outcome.UNSUPPORTED,
                                Optional.of(p.substring(p.indexOf(':') + 1)), took))
                        .orElseGet(() -> new TestResult(TestResult.Outcome.PASSED, Optional.empty(), took));
                case FAILED -> new TestResult(TestResult.Outcome.FAILED, message, took);
                case ABORTED -> new TestResult(TestResult.Outcome.SKIPPED, message, took);
            });
        } else if (result.getStatus() != TestExecutionResult.Status.SUCCESSFUL) {
            // a container that failed or was aborted (its @BeforeAll) takes its unrun tests with it
            TestResult.Outcome outcome = result.getStatus() == TestExecutionResult.Status.FAILED
                    ? TestResult.Outcome.FAILED : TestResult.Outcome.SKIPPED;
            forTests(id, uid -> results.putIfAbsent(uid, new TestResult(outcome, message, Duration.ZERO)));
        }
    }

    private void forTests(TestIdentifier id, Consumer<String> action) {
        if (id.isTest()) {
            action.accept(id.getUniqueId());
        }
        if (plan != null) {
            plan.getDescendants(id).stream().filter(TestIdentifier::isTest).map(TestIdentifier::getUniqueId).forEach(action);
        }
    }

    /** One line: the assertion's message, or the throwable's type and message ({@link PluginCall#oneLine}), cut to fit. */
    static String describe(Throwable t) {
        String text = t instanceof AssertionError && t.getMessage() != null ? t.getMessage() : PluginCall.oneLine(t);
        text = text.lines().map(String::strip).filter(l -> !l.isEmpty()).collect(Collectors.joining(" "));
        return text.length() > MAX_MESSAGE ? text.substring(0, MAX_MESSAGE - 1) + "…" : text;
    }

    /** Results by {@link TestCase#id()}. */
    Map<String, TestResult> results() {
        Map<String, TestResult> out = new LinkedHashMap<>();
        cases.forEach((uid, c) -> Optional.ofNullable(results.get(uid)).ifPresent(r -> out.put(c.id(), r)));
        return out;
    }

    Optional<Set<Capability>> effective() {
        return Optional.ofNullable(effective);
    }
}
