package io.hvspi.tck.sim;

import io.hvspi.spi.PluginException;
import io.hvspi.tck.sim.dragonball.DragonballBridgeSimulator;
import java.nio.file.Path;
import java.util.List;

/** Starts the simulator for a hypervisor type. */
public final class VmmSimulators {
    private VmmSimulators() {}

    /** The types hvspi has a simulator for. */
    public static List<String> types() {
        return List.of("dragonball");
    }

    /** Starts the simulator for {@code type}, serving under {@code dir} (created private). */
    public static VmmSimulator start(String type, Path dir) {
        return switch (type) {
            case "dragonball" -> DragonballBridgeSimulator.start(dir);
            default -> throw new PluginException("hvspi has no simulator for hypervisor '" + type
                    + "' (simulators: " + String.join(", ", types()) + ")");
        };
    }
}
