package io.hvspi.core.config;

import io.hvspi.spi.ConfigException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Applies {@code io.katacontainers.config.hypervisor.*} annotations over a
 * loaded configuration, with the Go runtime's strictness: every annotation
 * must be allowed, or the whole set is refused with a {@link ConfigException}
 * naming the first refused one (in key order).
 *
 * <p>An annotation is applied only when, in order:
 * <ol>
 * <li>its key has the hypervisor prefix;</li>
 * <li>a regular expression in {@code enable_annotations} matches the name after
 *     the prefix, with RE2 semantics and <em>unanchored</em>, as Kata matches it
 *     ({@link AnnotationPatterns}): {@code "path"} there also enables
 *     {@code jailer_path} and {@code vhost_user_store_path};</li>
 * <li>Kata knows the annotation (either runtime's list, {@link #KATA}) or it is
 *     one of hvspi's own; one Kata knows but hvspi does not act on is checked and
 *     accepted, and listed by {@link #notActedOn(Map)};</li>
 * <li>its value is printable: no control, format (bidi override, zero-width) or
 *     line-separator character;</li>
 * <li>its value has the right type and range, parsed as the Go runtime parses it
 *     ({@code src/runtime/pkg/oci/utils.go}): integers with {@code strconv.ParseUint}
 *     (digits only: no sign, so {@code +5} is refused), {@code default_vcpus} with
 *     {@code strconv.ParseFloat} (at least 0, at most the host's CPUs), booleans with
 *     {@code strconv.ParseBool}; {@code indep_iothreads} within 1..50,
 *     {@code default_memory} at least 256 MiB, {@code machine_type} a QEMU machine name;</li>
 * <li>a path value is absolute and in normal form ({@link AnnotationPaths}),
 *     and, for the six guarded keys, matches a glob of its {@code valid_*} list
 *     (an empty list refuses every value), as written and through symbolic links.</li>
 * </ol>
 * A refusal names the annotation; its message is one printable line (control
 * characters escaped, long values cut), so a pod cannot forge or flood a
 * runtime's log through it.
 * An applied annotation replaces the typed value, except {@code kernel_params},
 * which is merged as Kata merges it: a parameter with the same name is replaced,
 * the others are appended.
 */
public final class AnnotationPolicy {
    /** The prefix of every hypervisor annotation. */
    public static final String PREFIX = "io.katacontainers.config.hypervisor.";
    /** The Go runtime's range for the {@code indep_iothreads} annotation. */
    public static final int MIN_INDEP_IOTHREADS = 1;
    public static final int MAX_INDEP_IOTHREADS = 50;

    private enum Kind { BOOL, PATH, GUARDED_PATH, STRING, MACHINE, KERNEL_PARAMS, VERITY, VCPUS, MEMORY,
        INDEP_IOTHREADS, ROOT_PORTS, HOTPLUG_SLOTS, BLOCK_DRIVER, BLOCK_AIO, POLICY, ACCEL, MAX_VCPUS,
        // kinds of annotations hvspi checks but does not act on
        UINT, POSITIVE_UINT, SECTOR_SIZE, PCIE_PORT, SHARED_FS, JSON_STRINGS, INITDATA }

    private static final Map<String, Kind> KINDS = kinds();
    /** Annotations Kata knows and hvspi checks, by kind, but does not apply to the table. */
    private static final Map<String, Kind> CHECKED_ONLY = checkedOnly();
    /** The Go runtime's annotation for {@code default_maxvcpus} has another name than the key. */
    private static final Map<String, String> TABLE_KEY = Map.of("default_max_vcpus", "default_maxvcpus");

    /**
     * Every hypervisor annotation Kata defines, either runtime (names after {@link #PREFIX}),
     * from {@code kata-keys.txt}: Go's {@code virtcontainers/pkg/annotations/annotations.go},
     * runtime-rs's {@code kata-types/src/annotations/mod.rs}.
     */
    public static final Set<String> KATA = kataAnnotations();
    /** QEMU's machine names ({@code q35}, {@code pc-q35-7.2}, {@code s390-ccw-virtio}): never an option list. */
    private static final Pattern MACHINE_TYPE = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    /** The annotation names (after {@link #PREFIX}) hvspi applies. */
    public static final Set<String> SUPPORTED = Set.copyOf(KINDS.keySet());

    private AnnotationPolicy() {}

    private static Map<String, Kind> kinds() {
        Map<String, Kind> m = new LinkedHashMap<>();
        for (String k : List.of("enable_iothreads", "disable_block_device_use", "block_device_cache_set",
                "block_device_cache_direct", "block_device_cache_noflush", "enable_iommu")) {
            m.put(k, Kind.BOOL);
        }
        for (String k : List.of("kernel", "initrd", "image")) {
            m.put(k, Kind.PATH);
        }
        for (String k : HypervisorReader.GUARDED_PATHS.keySet()) {
            m.put(k, Kind.GUARDED_PATH);
        }
        m.put("kernel_params", Kind.KERNEL_PARAMS);
        m.put("kernel_verity_params", Kind.VERITY);
        m.put("machine_type", Kind.MACHINE);
        m.put("default_vcpus", Kind.VCPUS);
        m.put("default_memory", Kind.MEMORY);
        m.put("indep_iothreads", Kind.INDEP_IOTHREADS);
        m.put("pcie_root_port", Kind.ROOT_PORTS);
        m.put("block_device_driver", Kind.BLOCK_DRIVER);
        m.put("block_device_aio", Kind.BLOCK_AIO);
        m.put("indep_iothreads_policy", Kind.POLICY);
        m.put("accel", Kind.ACCEL);
        m.put("hotplug_slots", Kind.HOTPLUG_SLOTS);
        m.put("default_max_vcpus", Kind.MAX_VCPUS);
        return Map.copyOf(m);
    }

    /** Value rules from {@code oci/utils.go} (function named per group) for the annotations hvspi does not use. */
    private static Map<String, Kind> checkedOnly() {
        Map<String, Kind> m = new LinkedHashMap<>();
        // setBool: addHypervisorConfigOverrides, addHypervisorMemoryOverrides, addHypervisorNetworkOverrides
        for (String k : List.of("disable_image_nvdimm", "disable_vhost_net", "enable_guest_swap", "enable_hugepages",
                "enable_iommu_platform", "enable_mem_prealloc", "enable_vhost_user_store", "enable_virtio_mem",
                "reclaim_guest_freed_memory", "rootless", "use_legacy_serial")) {
            m.put(k, Kind.BOOL);
        }
        // setUint: memory, network, virtio-fs, GPU (addHypervisorGPUOverrides) and runtime-rs's queue overrides
        for (String k : List.of("default_gpus", "memory_slots", "memory_offset", "rx_rate_limiter_max_rate",
                "tx_rate_limiter_max_rate", "virtio_fs_cache_size", "vhost_user_reconnect_timeout_sec",
                "pcie_switch_port", "network_queues", "block_device_num_queues", "block_device_queue_size")) {
            m.put(k, Kind.UINT);
        }
        m.put("msize_9p", Kind.POSITIVE_UINT); // addHypervisorVirtioFsOverrides: 0 refused
        // addHypervisorBlockOverrides: 0 or a power of 2 from 512 to 65536
        m.put("blk_logical_sector_size", Kind.SECTOR_SIZE);
        m.put("blk_physical_sector_size", Kind.SECTOR_SIZE);
        // addHypervisorHotColdPlugVfioOverrides: config.PCIePort
        m.put("hot_plug_vfio", Kind.PCIE_PORT);
        m.put("cold_plug_vfio", Kind.PCIE_PORT);
        m.put("shared_fs", Kind.SHARED_FS);
        m.put("virtio_fs_extra_args", Kind.JSON_STRINGS);
        m.put("cc_init_data", Kind.INITDATA); // addHypervisorInitdataOverrides
        for (String k : List.of("firmware", "firmware_volume", "guest_hook_path")) {
            m.put(k, Kind.PATH);
        }
        for (String k : List.of("default_gpu_model", "cpu_features", "machine_accelerators", "virtio_fs_cache",
                "hugepage_type", "asset_hash_type", "numa_mapping", "kernel_hash", "image_hash", "initrd_hash",
                "firmware_hash", "firmware_volume_hash", "hypervisor_hash", "path_hash", "jailer_hash",
                "prefetch_files.list")) {
            m.put(k, Kind.STRING);
        }
        return Map.copyOf(m);
    }

    private static Set<String> kataAnnotations() {
        Set<String> all = new java.util.TreeSet<>(KnownKeys.kata(KataRuntime.GO, "annotations"));
        all.addAll(KnownKeys.kata(KataRuntime.RUNTIME_RS, "annotations"));
        return java.util.Collections.unmodifiableSet(all);
    }

    /** How an annotation's value is checked, or null when neither Kata nor hvspi knows it. */
    private static Kind kind(String name) {
        Kind k = KINDS.get(name);
        if (k != null) {
            return k;
        }
        k = CHECKED_ONLY.get(name);
        if (k != null) {
            return k;
        }
        return KATA.contains(name) ? Kind.STRING : null;
    }

    /** Why {@code runtime}'s regex library refuses an {@code enable_annotations} pattern, or empty when it compiles. */
    public static java.util.Optional<String> patternProblem(String regex, KataRuntime runtime) {
        return AnnotationPatterns.problem(regex, runtime);
    }

    /** Whether hvspi checks this annotation and writes it into the hypervisor table. */
    public static boolean actedOn(String name) {
        return KINDS.containsKey(name);
    }

    /** The applied annotations (full keys) that hvspi accepted but does not act on, sorted. */
    public static List<String> notActedOn(Map<String, String> applied) {
        return applied.keySet().stream().filter(k -> k.startsWith(PREFIX))
                .filter(k -> !actedOn(k.substring(PREFIX.length()))).sorted().toList();
    }

    /**
     * For each {@code enable_annotations} pattern of {@code config}, the annotations
     * it enables among those Kata knows and hvspi's own, in name order.
     */
    public static Map<String, List<String>> enabledBy(KataConfig config) {
        Set<String> names = new java.util.TreeSet<>(KATA);
        names.addAll(KINDS.keySet());
        return AnnotationPatterns.enabledBy(config.hypervisor().enableAnnotations(), config.runtime(),
                List.copyOf(names));
    }

    /** Returns {@code config} with {@code annotations} applied; see the class comment for the rules. */
    public static KataConfig apply(KataConfig config, Map<String, String> annotations) {
        if (annotations.isEmpty()) {
            return config;
        }
        // an embedder's map, not a pod's annotation: a null is a bad argument, refused as the API refuses one
        for (Map.Entry<String, String> e : annotations.entrySet()) {
            if (e.getKey() == null) {
                throw new IllegalArgumentException("annotations: a null key (with value "
                        + (e.getValue() == null ? "null" : Locator.show(e.getValue())) + ")");
            }
            if (e.getValue() == null) {
                throw new IllegalArgumentException("annotations: " + Locator.show(e.getKey()) + " has a null value");
            }
        }
        Map<String, Object> table = new LinkedHashMap<>(config.hypervisorTable());
        Map<String, Origin> origins = new HashMap<>(config.origins());
        for (Map.Entry<String, String> e : new TreeMap<>(annotations).entrySet()) {
            String key = e.getKey();
            String value = e.getValue();
            if (!key.startsWith(PREFIX)) {
                throw refused(key, "not a hypervisor annotation: expected the prefix " + PREFIX);
            }
            String name = key.substring(PREFIX.length());
            checkEnabled(config, key, name);
            Kind kind = kind(name);
            if (kind == null) {
                throw refused(key, "neither Kata nor hvspi knows this annotation");
            }
            if (value.codePoints().anyMatch(Locator::invisible)) {
                throw refused(key, "expected printable characters only (no control, format or line-separator"
                        + " characters), got " + Locator.show(value));
            }
            Object parsed = parse(config, key, name, kind, value, table);
            if (actedOn(name) && parsed != null) { // null: accepted, and the runtime leaves the value as it was
                String tableKey = TABLE_KEY.getOrDefault(name, name);
                table.put(tableKey, parsed);
                origins.put(tableKey, Origin.annotation(key));
            }
        }
        Map<String, String> applied = new TreeMap<>(config.annotations());
        applied.putAll(annotations);
        return KataConfig.create(config.source(), config.runtime(), config.hypervisorName(), table, origins,
                config.unknownKeys(), applied);
    }

    /** Whether a regular expression of {@code enable_annotations} enables {@code name}, as the Go runtime decides. */
    static boolean enabled(List<String> enableAnnotations, String name) {
        return AnnotationPatterns.enabled(enableAnnotations, KataRuntime.GO, name);
    }

    private static void checkEnabled(KataConfig config, String key, String name) {
        List<String> allowed = config.hypervisor().enableAnnotations();
        Path file = config.fileOf("enable_annotations");
        if (allowed.isEmpty()) {
            throw refused(key, "annotation not enabled: enable_annotations in " + file
                    + " is empty or absent, so no hypervisor annotation is accepted");
        }
        if (!AnnotationPatterns.enabled(allowed, config.runtime(), name)) {
            throw refused(key, "annotation not enabled: no regular expression of enable_annotations in "
                    + file + " matches it (" + quoted(allowed) + ", RE2, unanchored as Kata matches)");
        }
    }

    private static Object parse(KataConfig config, String key, String name, Kind kind, String value,
                                Map<String, Object> table) {
        return switch (kind) {
            case BOOL -> bool(key, value);
            case STRING -> value;
            case MACHINE -> {
                if (!MACHINE_TYPE.matcher(value).matches()) {
                    throw refused(key, "expected a machine type name (a letter or digit, then letters, digits, '.',"
                            + " '_' or '-'), got " + Locator.show(value));
                }
                yield value;
            }
            case VERITY -> verity(config, key, value);
            case KERNEL_PARAMS -> mergeKernelParams(String.valueOf(table.getOrDefault(name, "")), value);
            case PATH -> path(key, value);
            case GUARDED_PATH -> guardedPath(config, key, name, value);
            case VCPUS -> vcpus(config, key, value);
            case MEMORY -> memory(config, key, value);
            case MAX_VCPUS -> maxVcpus(config, key, value);
            case UINT -> integer(config.runtime(), key, value, 0, Long.MAX_VALUE);
            case POSITIVE_UINT -> integer(config.runtime(), key, value, 1, Long.MAX_VALUE);
            case SECTOR_SIZE -> sectorSize(config, key, value);
            case PCIE_PORT -> value.isEmpty() ? value : oneOf(key, value, PCIE_PORTS);
            case SHARED_FS -> oneOf(key, value, List.of("virtio-9p", "virtio-fs"));
            case JSON_STRINGS -> jsonStrings(key, value);
            case INITDATA -> Initdata.check(value).map(problem -> {
                throw refused(key, problem);
            }).orElse(value);
            // Go: 1..50 (setUintWithCheck in addHypervisorBlockOverrides); runtime-rs: any u32, hvspi caps it
            case INDEP_IOTHREADS -> config.runtime() == KataRuntime.RUNTIME_RS
                    ? integer(config.runtime(), key, value, 0, HypervisorReader.MAX_INDEP_IOTHREADS)
                    : integer(config.runtime(), key, value, MIN_INDEP_IOTHREADS, MAX_INDEP_IOTHREADS);
            case ROOT_PORTS -> rootPorts(config, key, value);
            case HOTPLUG_SLOTS -> integer(config.runtime(), key, value, 1, HypervisorReader.MAX_ROOT_PORTS);
            case BLOCK_DRIVER -> oneOf(key, value, HypervisorReader.BLOCK_DRIVERS);
            case BLOCK_AIO -> oneOf(key, value, HypervisorReader.BLOCK_AIO);
            case POLICY -> oneOf(key, value, HypervisorReader.POLICIES);
            case ACCEL -> oneOf(key, value, HypervisorReader.ACCELS);
        };
    }

    /** Go's {@code strconv.ParseBool} spellings, which the Go runtime accepts for boolean annotations. */
    private static boolean bool(String key, String value) {
        return switch (value) {
            case "1", "t", "T", "true", "TRUE", "True" -> true;
            case "0", "f", "F", "false", "FALSE", "False" -> false;
            default -> throw refused(key, "expected true or false, got " + Locator.show(value));
        };
    }

    /** config.PCIePort's valid values ({@code src/runtime/pkg/device/config/config.go: PCIePort.Invalid}). */
    private static final List<String> PCIE_PORTS = List.of("root-port", "switch-port", "bridge-port", "no-port");

    /**
     * An unsigned integer as the owning runtime reads it, then {@code min..max}.
     * Go: {@code strconv.ParseUint(value, 10, 64)} ({@code oci/utils.go:
     * annotationConfiguration.setUintWithCheck}): decimal digits only, no sign, no
     * space, no underscore. runtime-rs: {@code str::trim} then {@code u32::from_str}
     * (kata-types {@code annotations/mod.rs: KataAnnotations::get_value}), which
     * takes a leading {@code +}.
     */
    static long integer(KataRuntime runtime, String key, String value, long min, long max) {
        String expected = "expected an integer from " + min + " to " + max + ", got " + Locator.show(value);
        if (runtime == KataRuntime.RUNTIME_RS) {
            // kata-types annotations/mod.rs get_value: the value trimmed, then Rust's u32/u64 FromStr (a '+' is fine)
            value = value.strip();
            value = value.startsWith("+") ? value.substring(1) : value;
        }
        if (value.isEmpty() || value.length() > 40 || !value.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw refused(key, expected);
        }
        java.math.BigInteger n = new java.math.BigInteger(value);
        if (n.compareTo(java.math.BigInteger.valueOf(min)) < 0 || n.compareTo(java.math.BigInteger.valueOf(max)) > 0) {
            throw refused(key, expected);
        }
        return n.longValueExact();
    }

    /**
     * {@code kernel_verity_params}: Go ({@code oci/utils.go: addHypervisorPathOverrides})
     * ignores {@code ""} and applies a value {@code ParseKernelVerityParams} accepts (a
     * blank one included); runtime-rs ({@code replace_kernel_verity_params}) ignores a
     * blank value and applies one {@code parse_kernel_verity_params} accepts. Ignored is
     * null here: the file's value stays.
     */
    private static String verity(KataConfig config, String key, String value) {
        if (config.runtime() == KataRuntime.RUNTIME_RS ? value.isBlank() : value.isEmpty()) {
            return null;
        }
        KernelVerity.problem(value, config.runtime()).ifPresent(problem -> {
            throw refused(key, problem);
        });
        return value;
    }

    /** runtime-rs's {@code MAX_PCIE_ROOT_PORT} (kata-types annotations/mod.rs). */
    static final int RS_MAX_ROOT_PORTS = 16;

    /**
     * {@code pcie_root_port}. Go ({@code addHypervisorPCIeRootPortOverrides}) sets it only
     * when above 0, so 0 leaves the file's value; runtime-rs sets any value up to
     * {@link #RS_MAX_ROOT_PORTS} and refuses more ("root ports allocated exceeds the max").
     */
    private static Long rootPorts(KataConfig config, String key, String value) {
        if (config.runtime() == KataRuntime.RUNTIME_RS) {
            return integer(config.runtime(), key, value, 0, RS_MAX_ROOT_PORTS);
        }
        long n = integer(config.runtime(), key, value, 0, HypervisorReader.MAX_ROOT_PORTS);
        return n > 0 ? n : null;
    }

    /** {@code blk_*_sector_size}: 0, or a power of 2 from 512 to 65536 (addHypervisorBlockOverrides). */
    private static long sectorSize(KataConfig config, String key, String value) {
        long n = integer(config.runtime(), key, value, 0, 65536);
        if (n != 0 && (n < 512 || Long.bitCount(n) != 1)) {
            throw refused(key, "expected 0 or a power of 2 from 512 to 65536, got " + Locator.show(value));
        }
        return n;
    }

    /** {@code virtio_fs_extra_args}: a JSON array of strings (addHypervisorVirtioFsOverrides, json.Unmarshal). */
    private static String jsonStrings(String key, String value) {
        try {
            com.fasterxml.jackson.databind.JsonNode node = new com.fasterxml.jackson.databind.ObjectMapper()
                    .readTree(value);
            if (node != null && node.isArray()) {
                boolean strings = true;
                for (com.fasterxml.jackson.databind.JsonNode e : node) {
                    strings &= e.isTextual();
                }
                if (strings) {
                    return value;
                }
            }
        } catch (java.io.IOException e) {
            // refused below
        }
        throw refused(key, "expected a JSON array of strings, e.g. [\"--thread-pool-size=1\"], got "
                + Locator.show(value));
    }

    /**
     * {@code default_memory}. Go ({@code addHypervisorMemoryOverrides}): unsigned
     * MiB, at least {@code vc.MinHypervisorMemory} (256) except for remote.
     * runtime-rs ({@code annotations/mod.rs: convert_to_megabytes}): MiB, or a size
     * with a unit ({@code 2 GiB}, {@code 512MB}, {@code 1073741824 B}), at least the
     * plugin's minimum ({@code get_min_memory}); Kata ignores a value it cannot
     * parse, hvspi refuses it.
     */
    private static long memory(KataConfig config, String key, String value) {
        if (config.runtime() == KataRuntime.GO) {
            return integer(config.runtime(), key, value, "remote".equals(config.hypervisorName()) ? 0
                    : HypervisorRules.GO_MIN_MEMORY_MIB, Integer.MAX_VALUE);
        }
        RuntimeRsRules.Limits limits = RuntimeRsRules.limits(config.hypervisorName());
        long min = limits == null ? 0 : limits.minMemoryMib();
        long mib = ByteSize.mebibytes(value).orElseThrow(() -> refused(key, "expected a memory size in MiB or with a"
                + " unit (e.g. 2048, 2 GiB, 512MB), got " + Locator.show(value)));
        if (mib < min || mib > Integer.MAX_VALUE) {
            throw refused(key, "expected a memory size from " + min + " MiB (runtime-rs's minimum for "
                    + config.hypervisorName() + ") to " + Integer.MAX_VALUE + " MiB, got " + Locator.show(value));
        }
        return mib;
    }

    /**
     * {@code default_max_vcpus} (Go's annotation for {@code default_maxvcpus}):
     * {@code addHypervisorCPUOverrides}, unsigned, at most the host's CPUs except for remote.
     */
    private static long maxVcpus(KataConfig config, String key, String value) {
        boolean capped = !"remote".equals(config.hypervisorName());
        return integer(config.runtime(), key, value, 0, capped ? Runtime.getRuntime().availableProcessors()
                : HypervisorReader.UINT32_MAX);
    }

    /**
     * {@code default_vcpus}: {@code oci/utils.go: addHypervisorCPUOverrides} with
     * {@code setFloat32WithCheck}: a float of at least 0 and at most the host's CPUs
     * (remote has no cap); 0 means the default, 1.
     */
    private static Object vcpus(KataConfig config, String key, String value) {
        if (config.runtime() == KataRuntime.RUNTIME_RS) {
            return rsVcpus(config, key, value.strip());
        }
        int host = Runtime.getRuntime().availableProcessors();
        boolean capped = !"remote".equals(config.hypervisorName());
        String expected = "expected a number of vCPUs from 0" + (capped ? " to this host's " + host : " up")
                + " (a float, as Go's strconv.ParseFloat reads it), got " + Locator.show(value);
        // strconv.ParseFloat's decimal forms; hex floats, Inf and NaN are refused (a NaN would pass Kata's checks)
        if (value.length() > 40 || !value.matches(DECIMAL_FLOAT)) {
            throw refused(key, expected);
        }
        float f = Float.parseFloat(value); // Go: ParseFloat(value, 32), then float32
        if (!Float.isFinite(f) || f < 0 || (capped && f > host)) {
            throw refused(key, expected);
        }
        return number(f);
    }

    private static final String DECIMAL_FLOAT = "[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?";

    /**
     * runtime-rs ({@code annotations/mod.rs}, {@code KATA_ANNO_CFG_HYPERVISOR_DEFAULT_VCPUS}):
     * {@code f32::from_str} of the trimmed value, at most the plugin's
     * {@code get_max_cpus}; a negative count means the host's CPUs, as in the file.
     */
    private static Object rsVcpus(KataConfig config, String key, String value) {
        RuntimeRsRules.Limits limits = RuntimeRsRules.limits(config.hypervisorName());
        int max = limits == null ? Integer.MAX_VALUE : limits.maxVcpus();
        String expected = "expected a number of vCPUs up to " + max + " (runtime-rs's maximum for "
                + config.hypervisorName() + "), got " + Locator.show(value);
        if (value.length() > 40 || !value.matches(DECIMAL_FLOAT)) {
            throw refused(key, expected);
        }
        float f = Float.parseFloat(value);
        if (!Float.isFinite(f) || f > max) {
            throw refused(key, expected);
        }
        return number(f);
    }

    private static Object number(float f) {
        double d = f;
        return d == Math.rint(d) ? (Object) (long) d : (Object) d;
    }

    private static String oneOf(String key, String value, List<String> allowed) {
        if (!allowed.contains(value)) {
            throw refused(key, "expected " + HypervisorReader.choices(allowed) + ", got " + Locator.show(value));
        }
        return value;
    }

    /** An absolute path in normal form; see {@link AnnotationPaths}. */
    private static String path(String key, String value) {
        AnnotationPaths.spellingProblem(value).ifPresent(problem -> {
            throw refused(key, problem);
        });
        return value;
    }

    private static String guardedPath(KataConfig config, String key, String name, String value) {
        path(key, value);
        String listKey = HypervisorReader.GUARDED_PATHS.get(name);
        List<String> globs = config.hypervisor().validPaths(listKey);
        if (globs.isEmpty()) {
            throw refused(key, listKey + " in " + config.fileOf(listKey) + " is empty or absent, so no " + name
                    + " annotation is accepted");
        }
        AnnotationPaths.allowListProblem(value, listKey, globs, config.runtime()).ifPresent(problem -> {
            throw refused(key, problem);
        });
        return value;
    }

    /**
     * Kata's merge (runtime-rs {@code replace_kernel_params}, Go {@code AddKernelParam}):
     * a parameter whose name the annotation sets is dropped from the file's list,
     * and the annotation's parameters are appended.
     */
    static String mergeKernelParams(String existing, String added) {
        List<String> addedParams = words(added);
        Set<String> addedNames = addedParams.stream().map(AnnotationPolicy::paramName)
                .collect(Collectors.toCollection(LinkedHashSet::new));
        List<String> merged = new ArrayList<>();
        for (String p : words(existing)) {
            if (!addedNames.contains(paramName(p))) {
                merged.add(p);
            }
        }
        merged.addAll(addedParams);
        return String.join(" ", merged);
    }

    private static List<String> words(String s) {
        return s.isBlank() ? List.of() : List.of(s.strip().split("\\s+"));
    }

    private static String paramName(String param) {
        int eq = param.indexOf('=');
        return eq < 0 ? param : param.substring(0, eq);
    }

    static String quoted(List<String> values) {
        return values.stream().map(Locator::show).collect(Collectors.joining(", ", "[", "]"));
    }

    /** An error naming the annotation; a key with control characters is named with them escaped. */
    private static ConfigException refused(String key, String problem) {
        return Locator.configError(null, 0, 0, key, problem);
    }
}
