package io.hvspi.tck.compat;

import io.hvspi.spi.Capability;
import io.hvspi.tck.CapabilityExpectation;
import io.hvspi.tck.HypervisorContract;
import io.hvspi.tck.backend.TckBackend;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The kit as {@link CompatRunner} launches it: the backend is the one the runner
 * hands over, and the expectations come from the plugin's own declaration
 * (declared means "present where the binary has it"; a plugin's own test, with
 * its switch, is the stricter check).
 */
final class CompatContractTest extends HypervisorContract {
    /** The backend of the run in progress; the runner runs one plugin at a time. */
    static final AtomicReference<TckBackend> CURRENT = new AtomicReference<>();

    @Override
    protected TckBackend createBackend() {
        TckBackend backend = CURRENT.get();
        if (backend == null) {
            throw new IllegalStateException("CompatContractTest runs only from CompatRunner");
        }
        return backend;
    }

    @Override
    protected CapabilityExpectation expect(Capability capability) {
        return CURRENT.get().factory().declaredCapabilities().contains(capability)
                ? CapabilityExpectation.DEPENDS_ON_BINARY
                : CapabilityExpectation.UNSUPPORTED;
    }
}
