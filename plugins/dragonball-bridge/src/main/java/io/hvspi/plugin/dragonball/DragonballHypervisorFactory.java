package io.hvspi.plugin.dragonball;

import static io.hvspi.spi.Capability.*;

import io.hvspi.spi.Capability;
import io.hvspi.spi.ConfigException;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Set;
import org.pf4j.Extension;

/**
 * Dragonball through the hvspi bridge protocol. Dragonball is a library inside
 * Kata's runtime-rs; hvspi reaches it through a bridge sidecar on a Unix socket:
 * the host's {@code endpoint} option (a running sidecar or the simulator), else a
 * sidecar started from {@code [hypervisor.dragonball] path}. No IOThreads: one
 * thread per block queue.
 */
@Extension
public final class DragonballHypervisorFactory implements HypervisorFactory {

    /**
     * Kata's Dragonball bits that the kit exercises (runtime-rs: block, block hotplug; no
     * multi-queue), network hotplug through the bridge's InsertNetworkDevice and
     * RemoveNetworkDevice (runtime-rs does not declare it: Dragonball has no removal action, the
     * bridge defines one; see docs/dragonball-bridge-protocol.md), and its per-queue threads.
     * Not declared until the kit can check them:
     * discard (not observable through the bridge), fs sharing, hybrid vsock and guest
     * memory probe (no SPI operation).
     */
    static final Set<Capability> DECLARED = Set.copyOf(EnumSet.of(
            BLOCK_DEVICE, BLOCK_DEVICE_HOTPLUG, NETWORK_DEVICE_HOTPLUG, PER_QUEUE_IO_THREADS));

    @Override
    public String type() {
        return DragonballHypervisor.TYPE;
    }

    @Override
    public String description() {
        return "Dragonball through the hvspi bridge protocol (NDJSON on a Unix socket)";
    }

    @Override
    public Set<Capability> declaredCapabilities() {
        return DECLARED;
    }

    @Override
    public Hypervisor create(VmSpec spec, HostContext host) {
        validate(spec, host);
        return new DragonballHypervisor(spec, host);
    }

    @Override
    public Hypervisor reattach(VmRecord record, HostContext host) {
        return DragonballHypervisor.reattach(record, host);
    }

    /** Kata's runtime-rs rules for a Dragonball table, plus what the bridge needs. */
    static void validate(VmSpec spec, HostContext host) {
        String table = "hypervisor." + spec.hypervisorType() + ".";
        if (spec.ioThreads().enabled()) {
            throw new ConfigException(null, 0, 0, table + "enable_iothreads",
                    "dragonball hypervisor doesn't support IO threads");
        }
        String driver = spec.block().driver();
        if (!driver.equals(DragonballHypervisor.PCI_DRIVER) && !driver.equals(DragonballHypervisor.MMIO_DRIVER)) {
            throw new ConfigException(null, 0, 0, table + "block_device_driver", driver
                    + " is unsupported block device type (dragonball takes virtio-blk-pci or virtio-blk-mmio)");
        }
        if (spec.kernel().isEmpty()) {
            throw new ConfigException(null, 0, 0, table + "kernel",
                    "Dragonball cannot start a VM without a kernel (StartMicroVm fails with MissingKernelConfig)");
        }
        if (spec.vcpus() < 1 || spec.vcpus() > 254) {
            throw new ConfigException(null, 0, 0, table + "default_vcpus",
                    "Dragonball runs 1 to 254 vCPUs, got " + spec.vcpus());
        }
        if (host.option("endpoint").isEmpty()) {
            Path binary = spec.binary();
            if (binary.toString().isEmpty()) {
                throw new ConfigException(null, 0, 0, table + "path", "Dragonball is a library inside Kata's runtime; "
                        + "hvspi drives it through a bridge sidecar: set path to the sidecar, or give the bridge's "
                        + "socket as the endpoint option");
            }
            if (!Files.isRegularFile(binary) || !Files.isExecutable(binary)) {
                throw new ConfigException(null, 0, 0, table + "path",
                        "the Dragonball bridge sidecar " + binary + " is not an executable file");
            }
        }
    }
}
