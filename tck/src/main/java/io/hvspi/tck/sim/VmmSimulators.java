package io.hvspi.tck.sim;

import io.hvspi.tck.sim.clh.ClhSimulator;
import java.nio.file.Path;
import java.util.List;

/** Starts the simulator for a hypervisor type. */
public final class VmmSimulators {
    private VmmSimulators() {}

    /** The types hvspi has a simulator for. */
    public static List<String> types() {
        return List.of("clh");
    }

    /**
     * Starts the simulator for {@code type}, serving under {@code dir} (created private).
     *
     * <p>clh: the Cloud Hypervisor API simulator, not opening the guest's kernel and
     * cold-plugged images at boot, because Kata's configurations name guest files
     * that are not on a machine without Kata; everything else as in {@link ClhSimulator}.
     */
    public static VmmSimulator start(String type, Path dir) {
        return switch (type) {
            case "clh" -> ClhSimulator.start(dir, ClhSimulator.Options.defaults().withCheckBootFiles(false));
            default -> throw new io.hvspi.spi.PluginException("hvspi has no simulator for hypervisor '" + type
                    + "' (simulators: " + String.join(", ", types()) + ")");
        };
    }
}
