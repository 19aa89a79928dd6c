package io.hvspi.tck.compat;

import io.hvspi.spi.Capability;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * How one plugin did: a column of the report.
 *
 * @param pluginId the pf4j plugin id
 * @param type the hypervisor type
 * @param version the plugin's version
 * @param description the factory's description
 * @param status whether the kit ran
 * @param reason why it did not run, for {@link Status#UNAVAILABLE} and {@link Status#ERROR}
 * @param backend what the VMs ran on
 * @param declared the factory's declared capabilities
 * @param effective a started VM's effective capabilities, when one started
 * @param duration the whole run, backend start included
 * @param results by {@link TestCase#id()}
 */
public record PluginRun(String pluginId, String type, String version, String description, Status status,
                        Optional<String> reason, String backend, Set<Capability> declared,
                        Optional<Set<Capability>> effective, Duration duration, Map<String, TestResult> results) {

    public PluginRun {
        declared = Set.copyOf(declared);
        effective = effective.map(Set::copyOf);
        results = Map.copyOf(results);
    }

    /** Whether the kit ran against the plugin. */
    public enum Status {
        /** The kit ran; see the results. */
        TESTED("tested"),
        /** Its backend cannot run here (no binary, no simulator): reported, not passed. */
        UNAVAILABLE("unavailable"),
        /** The run itself broke (the backend threw): counted as failed. */
        ERROR("error");

        private final String key;

        Status(String key) {
            this.key = key;
        }

        public String key() {
            return key;
        }
    }

    /** The result of one test, if it has one. */
    public Optional<TestResult> result(TestCase test) {
        return Optional.ofNullable(results.get(test.id()));
    }

    /** How many results have each outcome. */
    public Map<TestResult.Outcome, Integer> counts() {
        Map<TestResult.Outcome, Integer> counts = new EnumMap<>(TestResult.Outcome.class);
        for (TestResult.Outcome o : TestResult.Outcome.values()) {
            counts.put(o, 0);
        }
        results.values().forEach(r -> counts.merge(r.outcome(), 1, Integer::sum));
        return counts;
    }

    /** True when this plugin makes the run fail: a failed test, or a run that broke. */
    public boolean failed() {
        return status == Status.ERROR || results.values().stream().anyMatch(r -> r.outcome() == TestResult.Outcome.FAILED);
    }

    /** The verdict on {@code capability}, from the tests that exercise it. */
    public CapabilityVerdict verdict(Capability capability, List<TestCase> tests) {
        if (status == Status.UNAVAILABLE) {
            return CapabilityVerdict.UNAVAILABLE;
        }
        boolean isDeclared = declared.contains(capability);
        if (tests.isEmpty()) {
            return isDeclared ? CapabilityVerdict.DECLARED_NOT_EXERCISED : CapabilityVerdict.NOT_DECLARED;
        }
        List<TestResult.Outcome> outcomes = tests.stream()
                .map(t -> result(t).map(TestResult::outcome).orElse(TestResult.Outcome.SKIPPED)).toList();
        if (status == Status.ERROR || outcomes.contains(TestResult.Outcome.FAILED)) {
            return CapabilityVerdict.FAILED;
        }
        if (outcomes.contains(TestResult.Outcome.PASSED)) {
            return CapabilityVerdict.PASSED;
        }
        if (outcomes.contains(TestResult.Outcome.UNSUPPORTED)) {
            return isDeclared ? CapabilityVerdict.ABSENT_HERE : CapabilityVerdict.UNSUPPORTED;
        }
        return CapabilityVerdict.SKIPPED;
    }
}
