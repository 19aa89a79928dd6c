package io.hvspi.plugin.dragonball;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmSpec;
import io.hvspi.sim.dragonball.DragonballBridgeSimulator;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.function.BooleanSupplier;

/** Specs, hosts and waits shared by the plugin's tests. */
final class TestVms {
    /** Short enough that failure tests are quick, long enough for a loaded CI machine. */
    static final Duration TIMEOUT = Duration.ofSeconds(2);

    private TestVms() {}

    /** A placeholder kernel: Dragonball (and the simulator) only open it before StartMicroVm. */
    static Path kernel(Path dir) {
        try {
            Path k = dir.resolve("vmlinux");
            return Files.exists(k) ? k : Files.writeString(k, "placeholder kernel");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static VmSpec spec(String vmId, Path kernel) {
        return spec(vmId, kernel, DragonballHypervisor.PCI_DRIVER, 1, 256, Optional.empty());
    }

    static VmSpec spec(String vmId, Path kernel, String driver, int vcpus, int memoryMib, Optional<Path> image) {
        return VmSpec.builder().vmId(vmId).hypervisorType("dragonball").binary(Path.of("")).kernel(Optional.of(kernel))
                .image(image).kernelParams("console=ttyS1 agent.log_vport=1025").vcpus(vcpus).memoryMib(memoryMib)
                .machineType("").accel("kvm").block(new VmSpec.BlockOptions(driver, "io_uring", false, false, false))
                .ioThreads(new VmSpec.IOThreadOptions(false, 0, IOThreadPolicy.LEAST_LOADED)).build();
    }

    static DefaultHostContext host(Path root, DragonballBridgeSimulator sim) {
        return host(root, sim, TIMEOUT);
    }

    static DefaultHostContext host(Path root, DragonballBridgeSimulator sim, Duration commandTimeout) {
        return new DefaultHostContext(root, commandTimeout, Map.of("endpoint", sim.endpoint()));
    }

    static DefaultHostContext hostWithoutEndpoint(Path root, Duration timeout) {
        return new DefaultHostContext(root, timeout, Map.of());
    }

    /** Stops a VM whatever happened to it, for {@code finally} blocks. */
    static void stopQuietly(Hypervisor vm) {
        if (vm == null) {
            return;
        }
        try {
            vm.stop();
        } catch (HvspiException e) {
            // the test already failed or checked this
        }
    }

    /** Polls until the condition holds; false when the deadline passed first. */
    static boolean eventually(BooleanSupplier condition) {
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean()) {
                return true;
            }
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
        }
        return condition.getAsBoolean();
    }
}
