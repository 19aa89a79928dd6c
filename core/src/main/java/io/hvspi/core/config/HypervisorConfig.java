package io.hvspi.core.config;

import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmSpec;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The keys of a {@code [hypervisor.NAME]} table that hvspi uses, typed, checked
 * and with Kata's defaults filled in. {@code docs/configuration.md} lists each
 * key with its default and Kata's behaviour.
 *
 * @param path {@code path}: the VMM binary, as written ({@code ""} when absent: the plugin decides)
 * @param kernel {@code kernel}, empty when absent or {@code ""}
 * @param initrd {@code initrd}, empty when absent or {@code ""}
 * @param image {@code image}, empty when absent or {@code ""}
 * @param kernelParams {@code kernel_params}
 * @param machineType {@code machine_type}: {@code q35} by default for QEMU, {@code ""} for other types
 * @param defaultVcpus {@code default_vcpus} as configured: negative means "the host's CPUs"; a
 *        fraction is rounded up; absent or 0 is 1. See {@link #vcpus(int)}.
 * @param defaultMemoryMib {@code default_memory} in MiB; absent or 0 is 2048
 * @param defaultBridges {@code default_bridges}; absent is 1 (0 for Dragonball), above 5 is 5
 * @param blockDeviceDriver {@code block_device_driver} as written; the default depends on the type
 * @param blockDeviceAio {@code block_device_aio}: {@code io_uring} (default), {@code native} or {@code threads}
 * @param disableBlockDeviceUse {@code disable_block_device_use}, false when absent
 * @param blockDeviceCacheSet {@code block_device_cache_set}
 * @param blockDeviceCacheDirect {@code block_device_cache_direct}
 * @param blockDeviceCacheNoflush {@code block_device_cache_noflush}
 * @param enableIothreads {@code enable_iothreads}
 * @param indepIothreads {@code indep_iothreads}: the independent IOThreads asked for (0..1024)
 * @param indepIothreadsPolicy hvspi's {@code indep_iothreads_policy}, least-loaded by default
 * @param pcieRootPort {@code pcie_root_port} (0..64)
 * @param sharedFs {@code shared_fs}, {@code virtio-fs} by default
 * @param jailerPath {@code jailer_path}
 * @param ctlpath {@code ctlpath}
 * @param virtioFsDaemon {@code virtio_fs_daemon}
 * @param vhostUserStorePath {@code vhost_user_store_path}
 * @param entropySource {@code entropy_source}
 * @param enableAnnotations {@code enable_annotations}: regular expressions, each matched against a
 *        whole annotation name after {@code io.katacontainers.config.hypervisor.}; empty when absent
 * @param validPaths the six glob lists that guard path annotations, by key
 *        ({@code valid_hypervisor_paths}, ...); every list present, empty when absent
 * @param accel hvspi's {@code accel}: {@code auto} (default: KVM where usable, else TCG), {@code kvm} or {@code tcg}
 * @param hotplugSlots hvspi's {@code hotplug_slots}: root ports created at start for hotplug (1..64, default 16)
 * @param defaultMaxVcpus {@code default_maxvcpus} as configured: 0 (the default) means the host's CPUs;
 *        see {@link #maxVcpus(int)}
 */
public record HypervisorConfig(String path, Optional<Path> kernel, Optional<Path> initrd, Optional<Path> image,
                               String kernelParams, String machineType, int defaultVcpus, int defaultMemoryMib,
                               int defaultBridges, String blockDeviceDriver, String blockDeviceAio,
                               boolean disableBlockDeviceUse, boolean blockDeviceCacheSet,
                               boolean blockDeviceCacheDirect, boolean blockDeviceCacheNoflush,
                               boolean enableIothreads, int indepIothreads, IOThreadPolicy indepIothreadsPolicy,
                               int pcieRootPort, String sharedFs, String jailerPath, String ctlpath,
                               String virtioFsDaemon, String vhostUserStorePath, String entropySource,
                               List<String> enableAnnotations, Map<String, List<String>> validPaths,
                               String accel, int hotplugSlots, int defaultMaxVcpus) {

    public HypervisorConfig {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(indepIothreadsPolicy, "indepIothreadsPolicy");
        enableAnnotations = List.copyOf(enableAnnotations);
        validPaths = Map.copyOf(validPaths);
    }

    /**
     * The boot vCPUs on a host with {@code hostCpus} CPUs, as both Kata runtimes
     * compute them: a negative {@code default_vcpus} or one above the host's
     * count gives the host's count.
     */
    public int vcpus(int hostCpus) {
        return defaultVcpus < 0 || defaultVcpus > hostCpus ? hostCpus : defaultVcpus;
    }

    /**
     * The maximum vCPUs (QEMU's {@code maxcpus}) on a host with {@code hostCpus}
     * CPUs, as both runtimes compute it (Go {@code katautils/config.go:
     * hypervisor.defaultMaxVCPUs}, runtime-rs {@code CpuInfo::adjust_config}): 0 or
     * at least the host's count gives the host's count.
     */
    public int maxVcpus(int hostCpus) {
        return defaultMaxVcpus == 0 || defaultMaxVcpus > hostCpus ? hostCpus : defaultMaxVcpus;
    }

    /** The glob list for a {@code valid_*} key; empty (rejects every path) when the file has none. */
    public List<String> validPaths(String listKey) {
        return validPaths.getOrDefault(listKey, List.of());
    }

    /** The IOThread settings a plugin gets; the pool exists when {@code enable_iothreads} and {@code indep_iothreads > 0}. */
    public VmSpec.IOThreadOptions ioThreads() {
        return new VmSpec.IOThreadOptions(enableIothreads, indepIothreads, indepIothreadsPolicy);
    }

    /**
     * The block driver under its QEMU device name: the Go runtime's
     * {@code virtio-blk} is {@code virtio-blk-pci} and its {@code virtio-mmio} is
     * {@code virtio-blk-mmio}; other names are unchanged.
     */
    public String blockDriverDevice() {
        return switch (blockDeviceDriver) {
            case "virtio-blk" -> "virtio-blk-pci";
            case "virtio-mmio" -> "virtio-blk-mmio";
            default -> blockDeviceDriver;
        };
    }

    /**
     * Root ports to create at start: {@code max(hotplug_slots, pcie_root_port)}.
     * Kata's {@code pcie_root_port} ports (for VFIO) and hvspi's hotplug ports are
     * the same {@code pcie-root-port} devices on {@code pcie.0}, one pool that
     * serves both, so the larger count covers each.
     */
    public int rootPorts() {
        return Math.max(hotplugSlots, pcieRootPort);
    }
}
