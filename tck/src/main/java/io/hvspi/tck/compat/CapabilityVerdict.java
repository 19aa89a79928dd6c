package io.hvspi.tck.compat;

import java.util.Locale;

/** What the report says about one capability of one plugin, from its tests' outcomes. */
public enum CapabilityVerdict {
    /** Its tests passed with the capability present. */
    PASSED("passed"),
    /** At least one of its tests failed: a broken feature or a wrong declaration. */
    FAILED("failed"),
    /** Not declared, and its operations fail with the unsupported error, as they must. */
    UNSUPPORTED("unsupported, as declared"),
    /** Declared, but the running VMM lacks it (narrowed by probing); its operations fail with the unsupported error. */
    ABSENT_HERE("declared, absent here"),
    /** Declared; the kit has no operation for it (the SPI has none yet). */
    DECLARED_NOT_EXERCISED("declared, not exercised"),
    /** Not declared; the kit has no operation for it. */
    NOT_DECLARED("not declared"),
    /** Its tests did not run. */
    SKIPPED("skipped"),
    /** The plugin could not run here. */
    UNAVAILABLE("unavailable");

    private final String label;

    CapabilityVerdict(String label) {
        this.label = label;
    }

    /** How the report prints it. */
    public String label() {
        return label;
    }

    /** The JSON key, kebab-case. */
    public String key() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }
}
