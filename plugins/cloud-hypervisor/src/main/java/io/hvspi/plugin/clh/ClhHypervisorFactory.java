package io.hvspi.plugin.clh;

import static io.hvspi.spi.Capability.*;

import io.hvspi.spi.Capability;
import io.hvspi.spi.ConfigException;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import java.nio.file.Files;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.pf4j.Extension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Cloud Hypervisor over its REST API. No IOThread pool: one thread per disk queue. */
@Extension
public final class ClhHypervisorFactory implements HypervisorFactory {
    private static final Logger LOG = LoggerFactory.getLogger(ClhHypervisorFactory.class);

    /**
     * Kata's Cloud Hypervisor bits that the kit exercises (runtime-rs: block, block
     * hotplug, network hotplug), multi-queue disks, and its fixed per-queue threads,
     * which {@code queue_affinity} pins. Not declared until the kit can check them:
     * discard (automatic in Cloud Hypervisor, invisible through its API), hybrid
     * vsock and fs sharing (no SPI operation). No IOThread family member: Cloud
     * Hypervisor has no IOThreads to add, tune, map or move.
     */
    static final Set<Capability> DECLARED = Set.copyOf(EnumSet.of(
            BLOCK_DEVICE, BLOCK_DEVICE_HOTPLUG, MULTI_QUEUE, NETWORK_DEVICE_HOTPLUG, PER_QUEUE_IO_THREADS,
            QUEUE_AFFINITY));

    private static final List<String> BLOCK_DRIVERS = List.of("virtio-blk", "virtio-blk-pci");

    @Override
    public String type() {
        return ClhHypervisor.TYPE;
    }

    @Override
    public String description() {
        return "Cloud Hypervisor over its REST API on a Unix socket";
    }

    @Override
    public Set<Capability> declaredCapabilities() {
        return DECLARED;
    }

    /**
     * Checks the spec: the binary exists and is executable (unless the host gives
     * an {@code endpoint} to connect to), there is a kernel, vCPUs and memory are positive, and
     * {@code block_device_driver}, when set, is virtio-blk, the only one Cloud
     * Hypervisor has. IOThread keys only draw a warning: Kata ignores them for
     * Cloud Hypervisor too.
     */
    @Override
    public Hypervisor create(VmSpec spec, HostContext host) {
        if (host.option("endpoint").isEmpty() && !Files.isExecutable(spec.binary())) {
            throw new ConfigException(null, 0, 0, "hypervisor.clh.path",
                    "Cloud Hypervisor binary " + spec.binary() + " does not exist or is not executable");
        }
        if (spec.kernel().isEmpty()) {
            // v51.1 validates the payload on vm.boot and on every vm.add-disk/add-net: without one nothing works
            throw new ConfigException(null, 0, 0, "hypervisor.clh.kernel",
                    "no kernel: Cloud Hypervisor refuses to boot a VM without one, and to add its disks and NICs");
        }
        if (spec.vcpus() < 1) {
            throw new ConfigException(null, 0, 0, "hypervisor.clh.default_vcpus", "expected at least 1, got " + spec.vcpus());
        }
        if (spec.memoryMib() < 1) {
            throw new ConfigException(null, 0, 0, "hypervisor.clh.default_memory",
                    "expected a positive size in MiB, got " + spec.memoryMib());
        }
        Object driver = spec.table().get("block_device_driver");
        if (driver != null && !BLOCK_DRIVERS.contains(driver.toString())) {
            throw new ConfigException(null, 0, 0, "hypervisor.clh.block_device_driver",
                    "Cloud Hypervisor has only virtio-blk (expected \"virtio-blk\" or \"virtio-blk-pci\"), got \"" + driver + "\"");
        }
        if (spec.ioThreads().enabled() || spec.ioThreads().independent() > 0) {
            LOG.warn("clh: enable_iothreads/indep_iothreads have no effect on Cloud Hypervisor (Kata ignores them too): "
                    + "it has no IOThreads, each disk queue runs on its own thread <id>_q<i>");
        }
        return new ClhHypervisor(spec, host, ClhSettings.from(spec.table(), host));
    }

    @Override
    public Hypervisor reattach(VmRecord record, HostContext host) {
        return ClhHypervisor.reattach(record, host);
    }

    /** Cloud Hypervisor's own output, and the guest's serial console as it writes it to a file. */
    @Override
    public java.util.Map<String, java.nio.file.Path> logFiles(VmRecord record) {
        return java.util.Map.of("vmm", record.runtimeDir().resolve(ClhHypervisor.LOG_NAME),
                "console", record.runtimeDir().resolve(ClhHypervisor.SERIAL_NAME));
    }
}
