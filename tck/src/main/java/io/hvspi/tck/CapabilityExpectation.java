package io.hvspi.tck;

/**
 * What a plugin's test says about one {@link io.hvspi.spi.Capability}: its
 * answer in the exhaustive {@code switch} of {@link HypervisorContract#expect}.
 */
public enum CapabilityExpectation {
    /** Declared, and every VM must have it: its contract tests must pass. */
    SUPPORTED,
    /**
     * Declared, but present only where the running binary has it (found by
     * probing, e.g. QEMU's {@code iothread-vq-mapping} from 9.0): where a VM has
     * it its tests must pass, where it lacks it the operation must fail with the
     * unsupported error.
     */
    DEPENDS_ON_BINARY,
    /** Not declared: every operation that needs it must fail with the unsupported error. */
    UNSUPPORTED;

    /** True when the plugin's factory must list the capability in its declared set. */
    public boolean declared() {
        return this != UNSUPPORTED;
    }
}
