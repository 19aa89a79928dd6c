package io.hvspi.core.config;

import io.hvspi.core.state.RuntimeDirs;
import io.hvspi.spi.VmSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A loaded Kata configuration: the selected hypervisor, its typed keys, its raw
 * table, and what {@code hvctl config check} reports (warnings, unknown keys).
 * Immutable; {@link #withAnnotations(Map)} returns a new one.
 */
public final class KataConfig {
    private final Path source;
    private final KataRuntime runtime;
    private final String hypervisorName;
    private final HypervisorConfig hypervisor;
    private final Map<String, Object> hypervisorTable;
    private final Map<String, Origin> origins;
    private final List<ConfigNote> warnings;
    private final List<ConfigNote> unknownKeys;
    private final Map<String, String> annotations;

    private KataConfig(Path source, KataRuntime runtime, String hypervisorName, HypervisorConfig hypervisor,
                       Map<String, Object> hypervisorTable, Map<String, Origin> origins, List<ConfigNote> warnings,
                       List<ConfigNote> unknownKeys, Map<String, String> annotations) {
        this.source = source;
        this.runtime = runtime;
        this.hypervisorName = hypervisorName;
        this.hypervisor = hypervisor;
        this.hypervisorTable = hypervisorTable;
        this.origins = origins;
        this.warnings = warnings;
        this.unknownKeys = unknownKeys;
        this.annotations = annotations;
    }

    /** Reads the typed keys out of {@code table} and checks the rules across them. */
    static KataConfig create(Path source, KataRuntime runtime, String type, Map<String, Object> table,
                             Map<String, Origin> origins, List<ConfigNote> unknownKeys,
                             Map<String, String> annotations) {
        Locator at = new Locator(source, type, origins, runtime);
        HypervisorConfig hypervisor = HypervisorReader.read(table, at);
        List<ConfigNote> warnings = new ArrayList<>(HypervisorRules.check(hypervisor, table, at));
        PlacementReader.read(table, at, PlacementReader.hostCpus()); // refused here, with the key's line
        warnings.addAll(PlacementReader.notes(hypervisor, table, at));
        return new KataConfig(source, runtime, type, hypervisor, Collections.unmodifiableMap(new LinkedHashMap<>(table)),
                at.origins(), List.copyOf(warnings), List.copyOf(unknownKeys),
                Collections.unmodifiableMap(new TreeMap<>(annotations)));
    }

    /** The file this came from (the name given to {@link KataConfigLoader#parse}). */
    public Path source() {
        return source;
    }

    /** The Kata runtime whose rules the file was read with ({@link KataRuntime}). */
    public KataRuntime runtime() {
        return runtime;
    }

    /** The selected {@code [hypervisor.NAME]}: the plugin type to run, e.g. {@code qemu}. */
    public String hypervisorName() {
        return hypervisorName;
    }

    /** The typed keys, with Kata's defaults and any applied annotations. */
    public HypervisorConfig hypervisor() {
        return hypervisor;
    }

    /**
     * The whole {@code [hypervisor.NAME]} table as plain Java values ({@code String},
     * {@code Long}, {@code Double}, {@code Boolean}, {@code List}, {@code Map}; dates
     * as their TOML text), in file order, with applied annotations written over it.
     */
    public Map<String, Object> hypervisorTable() {
        return hypervisorTable;
    }

    /** Keys that have no effect, and similar findings that do not stop a start. */
    public List<ConfigNote> warnings() {
        return warnings;
    }

    /** Keys of the selected table that neither Kata nor hvspi reads for this type ({@code --strict}). */
    public List<ConfigNote> unknownKeys() {
        return unknownKeys;
    }

    /** The annotations applied so far, by key. */
    public Map<String, String> annotations() {
        return annotations;
    }

    /**
     * Whether Kata gives this hypervisor type QEMU's independent IOThread pool
     * ({@code indep_iothreads}); Cloud Hypervisor, Dragonball, Firecracker and
     * remote have none, so their summaries must not show one.
     */
    public boolean kataHasIoThreadPool() {
        return kataHasIoThreadPool(hypervisorName);
    }

    /** {@link #kataHasIoThreadPool()} for a hypervisor type. */
    public static boolean kataHasIoThreadPool(String type) {
        return !HypervisorRules.withoutIoThreads(type);
    }

    /** Where each key of the table came from. */
    Map<String, Origin> origins() {
        return origins;
    }

    /** The file that set {@code key}: a drop-in of {@code config.d}, or {@link #source()}. */
    Path fileOf(String key) {
        Origin o = origins.get(key);
        return o != null && o.file() != null ? o.file() : source;
    }

    /**
     * Applies {@code io.katacontainers.config.hypervisor.*} annotations under
     * {@link AnnotationPolicy}; a refused one is a {@link io.hvspi.spi.ConfigException} naming it.
     */
    public KataConfig withAnnotations(Map<String, String> newAnnotations) {
        return AnnotationPolicy.apply(this, newAnnotations);
    }

    /**
     * What a plugin needs to start the VM. vCPUs are resolved against this host's
     * CPU count ({@link HypervisorConfig#vcpus(int)}), as is their maximum
     * ({@link HypervisorConfig#maxVcpus(int)}); the block driver carries its
     * QEMU device name ({@link HypervisorConfig#blockDriverDevice()}); hotplug slots
     * are {@link HypervisorConfig#rootPorts()}; {@code accel = "auto"} becomes KVM or
     * TCG as this host allows ({@link Accelerator}); the thread placement keys
     * ({@code indep_iothreads_cpus}, {@code indep_iothreads_cgroup},
     * {@code vcpu_threads_cgroup}) give {@link VmSpec#placement()}.
     *
     * @throws io.hvspi.spi.RequestRejectedException when {@code vmId} is not a valid VM id
     */
    public VmSpec toVmSpec(String vmId) {
        RuntimeDirs.checkVmId(vmId);
        HypervisorConfig h = hypervisor;
        return VmSpec.builder().vmId(vmId).hypervisorType(hypervisorName).binary(Path.of(h.path()))
                .kernel(h.kernel()).initrd(h.initrd()).image(h.image()).kernelParams(h.kernelParams())
                .vcpus(bootVcpus()).memoryMib(h.defaultMemoryMib())
                .machineType(h.machineType()).accel(Accelerator.choose(h.accel()).accel())
                .block(new VmSpec.BlockOptions(h.blockDriverDevice(), h.blockDeviceAio(), h.blockDeviceCacheSet(),
                        h.blockDeviceCacheDirect(), h.blockDeviceCacheNoflush()))
                .ioThreads(h.ioThreads()).hotplugSlots(h.rootPorts()).table(hypervisorTable)
                .maxVcpus(h.maxVcpus(Runtime.getRuntime().availableProcessors()))
                .placement(PlacementReader.read(hypervisorTable, new Locator(source, hypervisorName, origins, runtime),
                        PlacementReader.hostCpus()))
                .build();
    }

    /**
     * The boot vCPUs: runtime-rs lowers them to {@code default_maxvcpus}
     * ({@code CpuInfo::adjust_config}); for the Go runtime a file asking for more
     * was refused when loaded ({@link HypervisorRules}).
     */
    private int bootVcpus() {
        int host = Runtime.getRuntime().availableProcessors();
        return Math.min(hypervisor.vcpus(host), hypervisor.maxVcpus(host));
    }

    @Override
    public String toString() {
        return "KataConfig[" + source + ", hypervisor." + hypervisorName + "]";
    }
}
