package io.hvspi.spi;

import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * What to start: the parts of a Kata hypervisor table a plugin needs, already
 * validated and defaulted by the host, plus the raw table for the plugin's own
 * keys.
 *
 * @param vmId the VM's id (letters, digits, {@code -}, {@code _}, {@code .}; at most 64)
 * @param hypervisorType the Kata table key, e.g. {@code qemu}
 * @param binary the VMM binary ({@code path})
 * @param kernel the guest kernel, if any ({@code kernel})
 * @param initrd the initramfs, if any ({@code initrd})
 * @param image the root disk image, if any ({@code image})
 * @param kernelParams extra kernel parameters ({@code kernel_params})
 * @param vcpus boot vCPUs ({@code default_vcpus})
 * @param memoryMib boot memory in MiB ({@code default_memory})
 * @param machineType e.g. {@code q35} ({@code machine_type})
 * @param accel the accelerator, {@code kvm} or {@code tcg} (hvspi's {@code accel})
 * @param block block device settings
 * @param ioThreads IOThread settings
 * @param hotplugSlots how many hotplug slots (QEMU root ports) to create at start
 * @param table the whole {@code [hypervisor.NAME]} table as plain Java values, for plugin-specific keys
 */
public record VmSpec(String vmId, String hypervisorType, Path binary, Optional<Path> kernel, Optional<Path> initrd,
                     Optional<Path> image, String kernelParams, int vcpus, int memoryMib, String machineType,
                     String accel, BlockOptions block, IOThreadOptions ioThreads, int hotplugSlots,
                     Map<String, Object> table) {

    public VmSpec {
        Objects.requireNonNull(vmId, "vmId");
        Objects.requireNonNull(hypervisorType, "hypervisorType");
        Objects.requireNonNull(binary, "binary");
        Objects.requireNonNull(block, "block");
        Objects.requireNonNull(ioThreads, "ioThreads");
        table = Map.copyOf(table);
    }

    /**
     * Block device settings.
     *
     * @param driver {@code block_device_driver}: {@code virtio-blk-pci}, {@code virtio-scsi}, ...
     * @param aio {@code block_device_aio}: {@code io_uring}, {@code native}, {@code threads}
     * @param cacheSet {@code block_device_cache_set}: whether the two flags below apply
     * @param cacheDirect {@code block_device_cache_direct}
     * @param cacheNoflush {@code block_device_cache_noflush}
     */
    public record BlockOptions(String driver, String aio, boolean cacheSet, boolean cacheDirect, boolean cacheNoflush) {}

    /**
     * IOThread settings.
     *
     * @param enabled {@code enable_iothreads}
     * @param independent {@code indep_iothreads}: the pool size asked for
     * @param policy hvspi's {@code indep_iothreads_policy}
     */
    public record IOThreadOptions(boolean enabled, int independent, IOThreadPolicy policy) {
        /** The pool that exists: {@code independent} when IOThreads are enabled, else none (runtime-rs semantics). */
        public int poolSize() {
            return enabled ? independent : 0;
        }
    }

    /** A copy with another accelerator. */
    public VmSpec withAccel(String newAccel) {
        return new VmSpec(vmId, hypervisorType, binary, kernel, initrd, image, kernelParams, vcpus, memoryMib,
                machineType, newAccel, block, ioThreads, hotplugSlots, table);
    }

    /** A copy with another VM id. */
    public VmSpec withVmId(String newVmId) {
        return new VmSpec(newVmId, hypervisorType, binary, kernel, initrd, image, kernelParams, vcpus, memoryMib,
                machineType, accel, block, ioThreads, hotplugSlots, table);
    }

    /** A copy with another guest (kernel, initrd, kernel parameters). */
    public VmSpec withGuest(Optional<Path> newKernel, Optional<Path> newInitrd, String newKernelParams) {
        return new VmSpec(vmId, hypervisorType, binary, newKernel, newInitrd, image, newKernelParams, vcpus,
                memoryMib, machineType, accel, block, ioThreads, hotplugSlots, table);
    }

    /** A copy with other IOThread settings. */
    public VmSpec withIoThreads(IOThreadOptions newIoThreads) {
        return new VmSpec(vmId, hypervisorType, binary, kernel, initrd, image, kernelParams, vcpus, memoryMib,
                machineType, accel, block, newIoThreads, hotplugSlots, table);
    }
}
