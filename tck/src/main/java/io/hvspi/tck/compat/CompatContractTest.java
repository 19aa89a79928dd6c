package io.hvspi.tck.compat;

import io.hvspi.spi.Capability;
import io.hvspi.tck.CapabilityExpectation;
import io.hvspi.tck.HypervisorContract;
import io.hvspi.tck.TckKit;
import io.hvspi.tck.backend.TckBackend;
import java.util.Objects;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;

/**
 * The kit as {@link CompatRunner} launches it: the backend is the one the runner
 * hands over, and the expectations come from the plugin's own declaration, as the
 * runner read it once (declared means "present where the binary has it"; a plugin's
 * own test, with its switch, is the stricter check).
 */
final class CompatContractTest extends HypervisorContract {
    /**
     * The run this thread launches, inherited by the threads JUnit starts for it. Per
     * thread, not a shared slot: a run given up past its deadline keeps its own plugin
     * while the next one starts.
     */
    static final InheritableThreadLocal<Run> CURRENT = new InheritableThreadLocal<>();

    /** One plugin's launch: its backend, its declaration as read once, and the kit once made. */
    static final class Run {
        final TckBackend backend;
        final Set<Capability> declared;
        private TckKit kit;
        private String abandoned;

        Run(TckBackend backend, Set<Capability> declared) {
            this.backend = Objects.requireNonNull(backend, "backend");
            this.declared = Set.copyOf(declared);
        }

        synchronized void kit(TckKit kit) {
            this.kit = kit;
            if (abandoned != null) {
                kit.abandon(abandoned);
            }
        }

        /** Gives the run up: its kit makes no more VMs. */
        synchronized void abandon(String reason) {
            abandoned = reason;
            if (kit != null) {
                kit.abandon(reason);
            }
        }
    }

    private Run run;

    @Override
    protected TckBackend createBackend() {
        run = CURRENT.get();
        if (run == null) {
            throw new IllegalStateException("CompatContractTest runs only from CompatRunner");
        }
        return run.backend;
    }

    @BeforeAll
    void publishKit() {
        run.kit(kit());
    }

    @Override
    protected CapabilityExpectation expect(Capability capability) {
        return run.declared.contains(capability)
                ? CapabilityExpectation.DEPENDS_ON_BINARY
                : CapabilityExpectation.UNSUPPORTED;
    }
}
