package io.hvspi.tck.sim;

import java.nio.file.Path;
import java.util.List;

/** Starts the simulator for a hypervisor type. */
public final class VmmSimulators {
    private VmmSimulators() {}

    /** The types hvspi has a simulator for. */
    public static List<String> types() {
        return List.of();
    }

    /** Starts the simulator for {@code type}, serving under {@code dir} (created private). */
    public static VmmSimulator start(String type, Path dir) {
        throw new io.hvspi.spi.PluginException("hvspi has no simulator for hypervisor '" + type
                + "' (simulators: " + (types().isEmpty() ? "none" : String.join(", ", types())) + ")");
    }
}
