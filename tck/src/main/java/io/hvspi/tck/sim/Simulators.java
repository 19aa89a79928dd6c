package io.hvspi.tck.sim;

import java.util.Optional;
import java.util.ServiceLoader;
import java.util.Set;

/** The simulators in this build, found through {@link VmmSimulatorProvider} services. */
public final class Simulators {
    /** The types hvspi ships a simulator for; a missing one is a build problem, not a third party's choice. */
    private static final Set<String> EXPECTED = Set.of("clh", "dragonball");

    private Simulators() {}

    /** The provider for {@code hypervisorType}, if this build has one. */
    public static Optional<VmmSimulatorProvider> find(String hypervisorType) {
        for (VmmSimulatorProvider p : ServiceLoader.load(VmmSimulatorProvider.class, Simulators.class.getClassLoader())) {
            if (p.hypervisorType().equals(hypervisorType)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** True for the types hvspi's own plugins are tested against simulators for. */
    public static boolean expected(String hypervisorType) {
        return EXPECTED.contains(hypervisorType);
    }
}
