package io.hvspi.core.config;

import io.hvspi.spi.IOThreadPolicy;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * Reads the typed {@link HypervisorConfig} out of a hypervisor table held as
 * plain Java values. The same reader runs on the file's table and on the table
 * after annotations, so both are checked by one set of rules.
 */
final class HypervisorReader {
    /** hvspi's cap on {@code indep_iothreads}: each is a host thread and an object on QEMU's command line. */
    static final int MAX_INDEP_IOTHREADS = 1024;
    /** hvspi creates at most this many root ports ({@code hotplug_slots}, {@code pcie_root_port}). */
    static final int MAX_ROOT_PORTS = 64;
    static final int DEFAULT_HOTPLUG_SLOTS = 16;
    static final int DEFAULT_MEMORY_MIB = 2048;
    static final int MAX_BRIDGES = 5;
    /** Go's uint32 fields ({@code default_memory}, {@code default_maxvcpus}) and runtime-rs's u32 ones. */
    static final long UINT32_MAX = 0xffff_ffffL;

    /** The path-valued keys an annotation may set, each with the glob list that guards it. */
    static final Map<String, String> GUARDED_PATHS = Map.of(
            "path", "valid_hypervisor_paths",
            "jailer_path", "valid_jailer_paths",
            "ctlpath", "valid_ctlpaths",
            "virtio_fs_daemon", "valid_virtio_fs_daemon_paths",
            "vhost_user_store_path", "valid_vhost_user_store_paths",
            "entropy_source", "valid_entropy_sources");

    static final List<String> BLOCK_DRIVERS = List.of("virtio-scsi", "virtio-blk-pci", "virtio-blk-ccw",
            "virtio-blk-mmio", "virtio-pmem", "nvdimm", "virtio-blk", "virtio-mmio");
    static final List<String> BLOCK_AIO = List.of("io_uring", "native", "threads");
    static final List<String> SHARED_FS = List.of("virtio-fs", "virtio-fs-nydus", "inline-virtio-fs", "virtio-9p",
            "none");
    static final List<String> ACCELS = Accelerator.KEYS;
    static final List<String> POLICIES = List.of("first", "round-robin", "least-loaded");

    private final Map<String, Object> table;
    private final Locator at;

    private HypervisorReader(Map<String, Object> table, Locator at) {
        this.table = table;
        this.at = at;
    }

    static HypervisorConfig read(Map<String, Object> table, Locator at) {
        return new HypervisorReader(table, at).read();
    }

    private HypervisorConfig read() {
        String type = at.type();
        // patterns that do not compile are kept: Kata ignores them, HypervisorRules warns (AnnotationPatterns)
        List<String> enableAnnotations = strings("enable_annotations");
        Map<String, List<String>> validPaths = new LinkedHashMap<>();
        for (String listKey : GUARDED_PATHS.values()) {
            List<String> globs = strings(listKey);
            for (String glob : globs) {
                try {
                    Glob.compile(glob, at.runtime());
                } catch (IllegalArgumentException e) {
                    throw at.error(listKey, Locator.show(glob) + " is not a valid glob: " + e.getMessage());
                }
            }
            validPaths.put(listKey, globs);
        }
        long memory = integer("default_memory", 0, 0, UINT32_MAX);
        long bridges = integer("default_bridges", "dragonball".equals(type) ? 0 : 1, 0, Integer.MAX_VALUE);
        if (bridges == 0 && !"dragonball".equals(type)) {
            bridges = 1;
        }
        return new HypervisorConfig(
                pathString("path"),
                optionalPath("kernel"),
                optionalPath("initrd"),
                optionalPath("image"),
                string("kernel_params", ""),
                orDefault("machine_type", "qemu".equals(type) ? "q35" : ""),
                vcpus(),
                memoryMib(memory),
                (int) Math.min(bridges, MAX_BRIDGES),
                oneOf("block_device_driver", defaultBlockDriver(type), BLOCK_DRIVERS),
                oneOf("block_device_aio", "io_uring", BLOCK_AIO),
                bool("disable_block_device_use", false),
                bool("block_device_cache_set", false),
                bool("block_device_cache_direct", false),
                bool("block_device_cache_noflush", false),
                bool("enable_iothreads", false),
                (int) integer("indep_iothreads", 0, 0, MAX_INDEP_IOTHREADS),
                IOThreadPolicy.fromKey(strictOneOf("indep_iothreads_policy", "least-loaded", POLICIES)),
                (int) integer("pcie_root_port", 0, 0, MAX_ROOT_PORTS),
                oneOf("shared_fs", "virtio-fs", SHARED_FS),
                string("jailer_path", ""),
                string("ctlpath", ""),
                string("virtio_fs_daemon", ""),
                string("vhost_user_store_path", ""),
                orDefault("entropy_source", "/dev/urandom"),
                enableAnnotations,
                validPaths,
                strictOneOf("accel", Accelerator.AUTO, ACCELS),
                (int) integer("hotplug_slots", DEFAULT_HOTPLUG_SLOTS, 1, MAX_ROOT_PORTS),
                (int) Math.min(integer("default_maxvcpus", 0, 0, UINT32_MAX), Integer.MAX_VALUE));
    }

    /**
     * {@code default_memory} as the runtime owning the file uses it. Go
     * ({@code katautils/config.go: hypervisor.defaultMemSz}): below
     * {@code vc.MinHypervisorMemory} (256), absent and 0 included, is 2048.
     * runtime-rs: absent or 0 is the plugin's default ({@link RuntimeRsRules}),
     * below its minimum is refused there. Go's remote type does not use it.
     */
    private int memoryMib(long configured) {
        long mib;
        if (at.runtime() == KataRuntime.RUNTIME_RS) {
            mib = RuntimeRsRules.memoryMib(at.type(), configured);
        } else if ("remote".equals(at.type())) {
            mib = configured == 0 ? DEFAULT_MEMORY_MIB : configured; // Go's newRemoteHypervisorConfig ignores it
        } else {
            mib = configured < HypervisorRules.GO_MIN_MEMORY_MIB ? DEFAULT_MEMORY_MIB : configured;
        }
        return (int) Math.min(mib, Integer.MAX_VALUE);
    }

    /** Kata's block driver when the key is absent: QEMU's virtio-scsi, Firecracker's virtio-mmio, else runtime-rs's virtio-blk-pci. */
    static String defaultBlockDriver(String type) {
        return switch (type) {
            case "qemu" -> "virtio-scsi";
            case "firecracker" -> "virtio-mmio";
            default -> "virtio-blk-pci";
        };
    }

    private String string(String key, String dflt) {
        Object v = table.get(key);
        if (v == null) {
            return dflt;
        }
        if (!(v instanceof String s)) {
            throw at.error(key, "expected a string, got " + Locator.show(v));
        }
        return s;
    }

    /** A string where {@code ""} means the default, as Kata reads it. */
    private String orDefault(String key, String dflt) {
        String s = string(key, dflt);
        return s.isEmpty() ? dflt : s;
    }

    /** One of {@code allowed}; {@code ""} means the default, as Kata reads it. */
    private String oneOf(String key, String dflt, List<String> allowed) {
        return check(key, orDefault(key, dflt), allowed);
    }

    /** One of {@code allowed}, with no empty form (hvspi's own keys). */
    private String strictOneOf(String key, String dflt, List<String> allowed) {
        return check(key, string(key, dflt), allowed);
    }

    private String check(String key, String value, List<String> allowed) {
        if (!allowed.contains(value)) {
            throw at.error(key, "expected " + choices(allowed) + ", got " + Locator.show(value));
        }
        return value;
    }

    static String choices(List<String> allowed) {
        String quoted = allowed.stream().map(Locator::show).collect(Collectors.joining(", "));
        return allowed.size() == 1 ? quoted : "one of " + quoted;
    }

    private boolean bool(String key, boolean dflt) {
        Object v = table.get(key);
        if (v == null) {
            return dflt;
        }
        if (!(v instanceof Boolean b)) {
            throw at.error(key, "expected true or false, got " + Locator.show(v));
        }
        return b;
    }

    private long integer(String key, long dflt, long min, long max) {
        Object v = table.get(key);
        if (v == null) {
            return dflt;
        }
        if (!(v instanceof Long n) || n < min || n > max) {
            throw at.error(key, "expected an integer from " + min + " to " + max + ", got " + Locator.show(v));
        }
        return n;
    }

    private List<String> strings(String key) {
        Object v = table.get(key);
        if (v == null) {
            return List.of();
        }
        if (v instanceof List<?> list && list.stream().allMatch(String.class::isInstance)) {
            return list.stream().map(String.class::cast).toList();
        }
        throw at.error(key, "expected an array of strings, got " + Locator.show(v));
    }

    /** A path kept as written; only checked to be one. */
    private String pathString(String key) {
        optionalPath(key);
        return string(key, "");
    }

    private Optional<Path> optionalPath(String key) {
        String s = string(key, "");
        if (s.isEmpty()) {
            return Optional.empty();
        }
        try {
            return Optional.of(Path.of(s));
        } catch (InvalidPathException e) {
            throw at.error(key, "expected a path, got " + Locator.show(s) + " (" + e.getReason() + ")");
        }
    }

    /**
     * {@code default_vcpus}: an integer (Go's int32) or a number (runtime-rs's
     * f32, rounded up here); negative means the host's CPUs and 0 means 1.
     */
    private int vcpus() {
        Object v = table.get("default_vcpus");
        if (v == null) {
            return 1;
        }
        double d;
        if (v instanceof Long n) {
            d = n;
        } else if (v instanceof Double x && Double.isFinite(x)) {
            d = x;
        } else {
            throw at.error("default_vcpus", "expected a number of vCPUs (negative: all the host's CPUs), got "
                    + Locator.show(v));
        }
        if (d < 0) {
            return -1;
        }
        d = Math.ceil(d);
        if (d > Integer.MAX_VALUE) {
            throw at.error("default_vcpus", "expected a number of vCPUs up to " + Integer.MAX_VALUE + ", got "
                    + Locator.show(v));
        }
        return d == 0 ? 1 : (int) d;
    }
}
