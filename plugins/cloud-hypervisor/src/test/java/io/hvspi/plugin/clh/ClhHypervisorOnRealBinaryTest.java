package io.hvspi.plugin.clh;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.spi.HostContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;

/**
 * The same behaviour against a real {@code cloud-hypervisor}, spawned by the
 * plugin. Runs only when {@code HVSPI_CLH_BINARY} names the binary (Cloud
 * Hypervisor is not packaged for Debian 12, so it is skipped here); tests that
 * need a booted guest also need {@code HVSPI_CLH_KERNEL}, a kernel Cloud
 * Hypervisor can boot on this host's KVM.
 */
class ClhHypervisorOnRealBinaryTest extends ClhHypervisorBehaviour {
    static final String BINARY_ENV = "HVSPI_CLH_BINARY";
    static final String KERNEL_ENV = "HVSPI_CLH_KERNEL";

    @BeforeEach
    void requireBinary() {
        String binary = System.getenv(BINARY_ENV);
        assumeTrue(binary != null && !binary.isBlank(),
                BINARY_ENV + " is not set: the real cloud-hypervisor variant is skipped (the simulator variant ran)");
        assumeTrue(Files.isExecutable(Path.of(binary)), BINARY_ENV + "=" + binary + " is not an executable file");
    }

    @Override
    HostContext hostFor(String vmId) {
        return new DefaultHostContext(tmp.resolve("run"), Duration.ofSeconds(10), Map.of());
    }

    @Override
    Path binary() {
        return Path.of(System.getenv(BINARY_ENV));
    }

    @Override
    Optional<Path> kernel() {
        return Optional.ofNullable(System.getenv(KERNEL_ENV)).filter(k -> !k.isBlank()).map(Path::of);
    }
}
