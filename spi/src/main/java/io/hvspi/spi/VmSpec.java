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
 * <p>Build one with {@link #builder()} or change one with {@link #toBuilder()}.
 * The accessors are stable API; the canonical constructor is not: a minor SPI
 * version may add a component (with a builder default), which changes it.
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
 * @param maxVcpus the most vCPUs the VM may have ({@code default_maxvcpus} resolved against the host,
 *        QEMU's {@code maxcpus}); 0 (the builder's default) means "as many as {@code vcpus}"
 * @param placement where the VMM's threads go on the host (CPU sets, cgroups); none by default (SPI 1.1)
 */
public record VmSpec(String vmId, String hypervisorType, Path binary, Optional<Path> kernel, Optional<Path> initrd,
                     Optional<Path> image, String kernelParams, int vcpus, int memoryMib, String machineType,
                     String accel, BlockOptions block, IOThreadOptions ioThreads, int hotplugSlots,
                     Map<String, Object> table, int maxVcpus, ThreadPlacement placement) {

    public VmSpec {
        Objects.requireNonNull(vmId, "vmId");
        Objects.requireNonNull(hypervisorType, "hypervisorType");
        Objects.requireNonNull(binary, "binary");
        Objects.requireNonNull(block, "block");
        Objects.requireNonNull(ioThreads, "ioThreads");
        table = Map.copyOf(table);
        placement = placement == null ? ThreadPlacement.NONE : placement;
    }

    /**
     * Where the VMM's threads go on the host; every part optional. Cgroup paths are
     * relative to the hierarchy's root (cgroup v2, else the v1 {@code cpuset}
     * controller), start with {@code /} and have no {@code .} or {@code ..} parts.
     *
     * @param ioThreadCpus the CPU set of the IOThread pool ({@code indep_iothreads_cpus}); IOThreads added
     *                     while the VM runs get it too
     * @param ioThreadCgroup the cgroup the pool's IOThreads are placed into ({@code indep_iothreads_cgroup})
     * @param vcpuCgroup the cgroup the vCPU threads are placed into ({@code vcpu_threads_cgroup})
     * @since SPI 1.1
     */
    public record ThreadPlacement(Optional<CpuSet> ioThreadCpus, Optional<String> ioThreadCgroup,
                                  Optional<String> vcpuCgroup) {
        /** No placement: threads stay where the VMM put them. */
        public static final ThreadPlacement NONE = new ThreadPlacement(Optional.empty(), Optional.empty(),
                Optional.empty());

        public ThreadPlacement {
            Objects.requireNonNull(ioThreadCpus, "ioThreadCpus");
            Objects.requireNonNull(ioThreadCgroup, "ioThreadCgroup");
            Objects.requireNonNull(vcpuCgroup, "vcpuCgroup");
            ioThreadCgroup.ifPresent(c -> checkCgroup(c, "ioThreadCgroup"));
            vcpuCgroup.ifPresent(c -> checkCgroup(c, "vcpuCgroup"));
        }

        /** True when nothing is asked for. */
        public boolean isNone() {
            return equals(NONE);
        }

        /**
         * Checks a cgroup path: absolute, printable, without {@code .} or {@code ..} parts;
         * {@code /} is the hierarchy's root.
         *
         * @throws IllegalArgumentException saying what is wrong
         */
        public static String checkCgroup(String path, String what) {
            if (!path.startsWith("/") || path.length() > 1024) {
                throw new IllegalArgumentException(what + " must be a cgroup path starting with '/', got \"" + path
                        + "\"");
            }
            if (path.equals("/")) {
                return path;
            }
            for (String part : path.substring(1).split("/", -1)) {
                if (part.isEmpty() || part.equals(".") || part.equals("..")
                        || !part.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
                    throw new IllegalArgumentException(what + " \"" + path + "\" has an empty, '.', '..' or"
                            + " non-printable part");
                }
            }
            return path;
        }
    }

    /**
     * The constructor of SPI 1.0: no {@code maxVcpus} (0: as many as {@code vcpus}) and no thread
     * placement.
     */
    public VmSpec(String vmId, String hypervisorType, Path binary, Optional<Path> kernel, Optional<Path> initrd,
                  Optional<Path> image, String kernelParams, int vcpus, int memoryMib, String machineType,
                  String accel, BlockOptions block, IOThreadOptions ioThreads, int hotplugSlots,
                  Map<String, Object> table) {
        this(vmId, hypervisorType, binary, kernel, initrd, image, kernelParams, vcpus, memoryMib, machineType, accel,
                block, ioThreads, hotplugSlots, table, 0, ThreadPlacement.NONE);
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

    /**
     * A builder with Kata's defaults for everything but the three required fields
     * ({@code vmId}, {@code hypervisorType}, {@code binary}): no guest, 1 vCPU, 2048 MiB,
     * {@code q35}, {@code kvm}, virtio-blk-pci with io_uring, no IOThreads, no hotplug slots.
     * New settings arrive as builder methods with a default, so a plugin or host built
     * against an older SPI keeps compiling (see docs/spi-versioning.md).
     */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding every value of this spec, to change a few. */
    public Builder toBuilder() {
        return new Builder().vmId(vmId).hypervisorType(hypervisorType).binary(binary).kernel(kernel).initrd(initrd)
                .image(image).kernelParams(kernelParams).vcpus(vcpus).memoryMib(memoryMib).machineType(machineType)
                .accel(accel).block(block).ioThreads(ioThreads).hotplugSlots(hotplugSlots).table(table)
                .maxVcpus(maxVcpus).placement(placement);
    }

    /** A copy with another accelerator. */
    public VmSpec withAccel(String newAccel) {
        return toBuilder().accel(newAccel).build();
    }

    /** A copy with another VM id. */
    public VmSpec withVmId(String newVmId) {
        return toBuilder().vmId(newVmId).build();
    }

    /** A copy with another guest (kernel, initrd, kernel parameters). */
    public VmSpec withGuest(Optional<Path> newKernel, Optional<Path> newInitrd, String newKernelParams) {
        return toBuilder().kernel(newKernel).initrd(newInitrd).kernelParams(newKernelParams).build();
    }

    /** A copy with other IOThread settings. */
    public VmSpec withIoThreads(IOThreadOptions newIoThreads) {
        return toBuilder().ioThreads(newIoThreads).build();
    }

    /** Builds a {@link VmSpec}; see {@link VmSpec#builder()} for the defaults. Not thread-safe. */
    public static final class Builder {
        private String vmId;
        private String hypervisorType;
        private Path binary;
        private Optional<Path> kernel = Optional.empty();
        private Optional<Path> initrd = Optional.empty();
        private Optional<Path> image = Optional.empty();
        private String kernelParams = "";
        private int vcpus = 1;
        private int memoryMib = 2048;
        private String machineType = "q35";
        private String accel = "kvm";
        private BlockOptions block = new BlockOptions("virtio-blk-pci", "io_uring", false, false, false);
        private IOThreadOptions ioThreads = new IOThreadOptions(false, 0, IOThreadPolicy.LEAST_LOADED);
        private int hotplugSlots;
        private Map<String, Object> table = Map.of();
        private int maxVcpus;
        private ThreadPlacement placement = ThreadPlacement.NONE;

        private Builder() {}

        public Builder vmId(String value) {
            this.vmId = Objects.requireNonNull(value, "vmId");
            return this;
        }

        public Builder hypervisorType(String value) {
            this.hypervisorType = Objects.requireNonNull(value, "hypervisorType");
            return this;
        }

        public Builder binary(Path value) {
            this.binary = Objects.requireNonNull(value, "binary");
            return this;
        }

        public Builder kernel(Optional<Path> value) {
            this.kernel = Objects.requireNonNull(value, "kernel");
            return this;
        }

        public Builder initrd(Optional<Path> value) {
            this.initrd = Objects.requireNonNull(value, "initrd");
            return this;
        }

        public Builder image(Optional<Path> value) {
            this.image = Objects.requireNonNull(value, "image");
            return this;
        }

        public Builder kernelParams(String value) {
            this.kernelParams = Objects.requireNonNull(value, "kernelParams");
            return this;
        }

        /** No guest at all: no kernel, initrd, image or kernel parameters (a VMM that can starts paused). */
        public Builder guestless() {
            return kernel(Optional.empty()).initrd(Optional.empty()).image(Optional.empty()).kernelParams("");
        }

        public Builder vcpus(int value) {
            this.vcpus = value;
            return this;
        }

        public Builder memoryMib(int value) {
            this.memoryMib = value;
            return this;
        }

        public Builder machineType(String value) {
            this.machineType = Objects.requireNonNull(value, "machineType");
            return this;
        }

        public Builder accel(String value) {
            this.accel = Objects.requireNonNull(value, "accel");
            return this;
        }

        public Builder block(BlockOptions value) {
            this.block = Objects.requireNonNull(value, "block");
            return this;
        }

        public Builder ioThreads(IOThreadOptions value) {
            this.ioThreads = Objects.requireNonNull(value, "ioThreads");
            return this;
        }

        /** Keeps the pool settings and changes only the policy. */
        public Builder ioThreadPolicy(IOThreadPolicy value) {
            return ioThreads(new IOThreadOptions(ioThreads.enabled(), ioThreads.independent(),
                    Objects.requireNonNull(value, "policy")));
        }

        public Builder hotplugSlots(int value) {
            this.hotplugSlots = value;
            return this;
        }

        public Builder table(Map<String, Object> value) {
            this.table = Objects.requireNonNull(value, "table");
            return this;
        }

        /** The most vCPUs the VM may have (QEMU's {@code maxcpus}); 0, the default, means {@code vcpus}. */
        public Builder maxVcpus(int value) {
            this.maxVcpus = value;
            return this;
        }

        /** Where the VMM's threads go on the host; {@link ThreadPlacement#NONE} by default. */
        public Builder placement(ThreadPlacement value) {
            this.placement = Objects.requireNonNull(value, "placement");
            return this;
        }

        /** The spec; throws {@link NullPointerException} naming a required field that was never set. */
        public VmSpec build() {
            return new VmSpec(vmId, hypervisorType, binary, kernel, initrd, image, kernelParams, vcpus, memoryMib,
                    machineType, accel, block, ioThreads, hotplugSlots, table, maxVcpus, placement);
        }
    }
}
