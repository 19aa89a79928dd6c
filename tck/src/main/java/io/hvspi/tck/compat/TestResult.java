package io.hvspi.tck.compat;

import java.time.Duration;
import java.util.Optional;

/**
 * One cell of the report: how one plugin did on one contract test.
 *
 * @param outcome what happened
 * @param message the failure's message, the skip's reason, or the capability an unsupported test found missing
 * @param duration how long the test ran
 */
public record TestResult(Outcome outcome, Optional<String> message, Duration duration) {

    /** What happened to a test. */
    public enum Outcome {
        /** The contract held with the capability present. */
        PASSED("passed"),
        /** The contract did not hold. */
        FAILED("failed"),
        /** The capability is absent and the operation failed with the unsupported error, as it must. */
        UNSUPPORTED("unsupported"),
        /** Not run (an assumption, or the whole plugin could not run). */
        SKIPPED("skipped");

        private final String key;

        Outcome(String key) {
            this.key = key;
        }

        public String key() {
            return key;
        }
    }
}
