package io.hvspi.sim;

import io.hvspi.spi.PluginException;
import io.hvspi.sim.clh.ClhSimulator;
import io.hvspi.sim.dragonball.DragonballBridgeSimulator;
import java.nio.file.Path;
import java.util.List;

/** Starts the simulator for a hypervisor type. */
public final class VmmSimulators {
    private VmmSimulators() {}

    /** The types hvspi has a simulator for. */
    public static List<String> types() {
        return List.of("clh", "dragonball");
    }

    /**
     * Starts the simulator for {@code type}, serving under {@code dir} (created private). Both open
     * the guest files they are given, as the real VMMs do; callers without a guest pass a placeholder.
     */
    public static VmmSimulator start(String type, Path dir) {
        return switch (type) {
            case "clh" -> ClhSimulator.start(dir);
            case "dragonball" -> DragonballBridgeSimulator.start(dir);
            default -> throw new PluginException("hvspi has no simulator for hypervisor '" + type
                    + "' (simulators: " + String.join(", ", types()) + ")");
        };
    }
}
