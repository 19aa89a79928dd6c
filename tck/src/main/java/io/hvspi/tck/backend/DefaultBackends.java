package io.hvspi.tck.backend;

import io.hvspi.spi.HypervisorFactory;
import io.hvspi.sim.VmmSimulators;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;

/**
 * The backend {@code hvctl compat} gives each installed plugin: real QEMU for
 * {@code qemu}, the simulator registered for the type ({@code clh},
 * {@code dragonball}), else the plugin's own defaults.
 */
public final class DefaultBackends {
    /** hvspi's own types that run against simulators here; a missing simulator is a gap in this build. */
    private static final Set<String> SIMULATED = Set.of("clh", "dragonball");

    private DefaultBackends() {}

    /** The default backend for {@code factory}, working under {@code workDir}. */
    public static TckBackend forFactory(HypervisorFactory factory, Path workDir) {
        String type = factory.type();
        if (type.equals("qemu")) {
            Optional<Path> qemu = QemuTckBackend.locate();
            return new QemuTckBackend(factory, qemu.orElse(Path.of(QemuTckBackend.BINARY_NAME)), workDir);
        }
        if (VmmSimulators.types().contains(type)) {
            return SimulatorTckBackend.registered(factory, workDir);
        }
        if (SIMULATED.contains(type)) {
            return new UnavailableBackend(factory, workDir, "no " + type + " simulator in this build"
                    + " (io.hvspi.sim.VmmSimulators has none for it)");
        }
        return new GenericTckBackend(factory, workDir);
    }

    /** A backend that cannot make VMs here, and says why. */
    static final class UnavailableBackend extends BaseTckBackend {
        private final String reason;

        UnavailableBackend(HypervisorFactory factory, Path workDir, String reason) {
            super(factory, workDir);
            this.reason = reason;
        }

        @Override
        protected Path binary() {
            return Path.of(factory().type());
        }

        @Override
        public Optional<String> unavailableReason() {
            return Optional.of(reason);
        }

        @Override
        public String describe() {
            return "none";
        }
    }
}
