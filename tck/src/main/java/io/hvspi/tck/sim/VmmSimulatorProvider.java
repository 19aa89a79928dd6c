package io.hvspi.tck.sim;

import io.hvspi.spi.VmSpec;
import java.nio.file.Path;

/**
 * Starts simulators of one VMM type. Each simulator package registers one in
 * {@code META-INF/services/io.hvspi.tck.sim.VmmSimulatorProvider}, so that the
 * kit's default backends and {@code hvctl} find it without compiling against it.
 */
public interface VmmSimulatorProvider {

    /** The Kata hypervisor type it simulates, e.g. {@code clh}. */
    String hypervisorType();

    /**
     * Starts a simulator that serves until closed.
     *
     * @param workDir a fresh directory for its socket and state (short: socket paths are limited)
     */
    VmmSimulator start(Path workDir);

    /** The binary name a spec for this VMM carries, e.g. {@code cloud-hypervisor}; not run. */
    default String binaryName() {
        return hypervisorType();
    }

    /** Adjusts the kit's default spec to what the simulated VMM needs (a kernel path, ...). */
    default VmSpec adapt(VmSpec spec) {
        return spec;
    }

    /** One line for reports, e.g. "Cloud Hypervisor v51.1 API simulator". */
    default String describe() {
        return hypervisorType() + " simulator";
    }
}
