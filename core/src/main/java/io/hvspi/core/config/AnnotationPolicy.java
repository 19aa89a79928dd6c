package io.hvspi.core.config;

import io.hvspi.spi.ConfigException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
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
 * <li>a regular expression in {@code enable_annotations} matches the <em>whole</em>
 *     name after the prefix. Kata matches unanchored, so {@code "path"} there also
 *     enables {@code jailer_path} and {@code vhost_user_store_path}; hvspi anchors
 *     with {@link java.util.regex.Matcher#matches()} rather than by adding
 *     {@code ^...$}, which {@code "a|b"} would escape;</li>
 * <li>hvspi applies that annotation (see {@link #SUPPORTED});</li>
 * <li>its value is printable: no control, format (bidi override, zero-width) or
 *     line-separator character;</li>
 * <li>its value has the right type and range: {@code indep_iothreads} within
 *     1..50 (the Go runtime's rule), {@code default_memory} at least 256 MiB,
 *     {@code default_vcpus} above 0 and at most the host's CPUs,
 *     {@code machine_type} a QEMU machine name;</li>
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

    private enum Kind { BOOL, PATH, GUARDED_PATH, STRING, MACHINE, KERNEL_PARAMS, VCPUS, MEMORY, INDEP_IOTHREADS,
        ROOT_PORTS, HOTPLUG_SLOTS, BLOCK_DRIVER, BLOCK_AIO, POLICY, ACCEL }

    private static final Map<String, Kind> KINDS = kinds();
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
        m.put("kernel_verity_params", Kind.STRING);
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
        return Map.copyOf(m);
    }

    /** Returns {@code config} with {@code annotations} applied; see the class comment for the rules. */
    public static KataConfig apply(KataConfig config, Map<String, String> annotations) {
        if (annotations.isEmpty()) {
            return config;
        }
        Map<String, Object> table = new LinkedHashMap<>(config.hypervisorTable());
        Map<String, Origin> origins = new HashMap<>(config.origins());
        for (Map.Entry<String, String> e : new TreeMap<>(annotations).entrySet()) {
            String key = e.getKey();
            String value = Objects.requireNonNull(e.getValue(), () -> "annotation " + key + " has no value");
            if (!key.startsWith(PREFIX)) {
                throw refused(key, "not a hypervisor annotation: expected the prefix " + PREFIX);
            }
            String name = key.substring(PREFIX.length());
            checkEnabled(config, key, name);
            Kind kind = KINDS.get(name);
            if (kind == null) {
                throw refused(key, "hvspi does not apply this annotation (it applies: "
                        + String.join(", ", KINDS.keySet().stream().sorted().toList()) + ")");
            }
            if (value.codePoints().anyMatch(Locator::invisible)) {
                throw refused(key, "expected printable characters only (no control, format or line-separator"
                        + " characters), got " + Locator.show(value));
            }
            table.put(name, parse(config, key, name, kind, value, table));
            origins.put(name, Origin.annotation(key));
        }
        Map<String, String> applied = new TreeMap<>(config.annotations());
        applied.putAll(annotations);
        return KataConfig.create(config.source(), config.hypervisorName(), table, origins, config.unknownKeys(),
                applied);
    }

    /** Whether a regular expression of {@code enable_annotations} matches the whole {@code name}. */
    static boolean enabled(List<String> enableAnnotations, String name) {
        return enableAnnotations.stream().anyMatch(regex -> Pattern.compile(regex).matcher(name).matches());
    }

    private static void checkEnabled(KataConfig config, String key, String name) {
        List<String> allowed = config.hypervisor().enableAnnotations();
        if (allowed.isEmpty()) {
            throw refused(key, "annotation not enabled: enable_annotations in " + config.source()
                    + " is empty or absent, so no hypervisor annotation is accepted");
        }
        if (!enabled(allowed, name)) {
            throw refused(key, "annotation not enabled: enable_annotations in " + config.source() + " allows only "
                    + quoted(allowed) + ", each matched against the whole name");
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
            case KERNEL_PARAMS -> mergeKernelParams(String.valueOf(table.getOrDefault(name, "")), value);
            case PATH -> path(key, value);
            case GUARDED_PATH -> guardedPath(config, key, name, value);
            case VCPUS -> vcpus(config, key, value);
            case MEMORY -> integer(key, value, "remote".equals(config.hypervisorName()) ? 1
                    : HypervisorRules.GO_MIN_MEMORY_MIB, Integer.MAX_VALUE);
            case INDEP_IOTHREADS -> integer(key, value, MIN_INDEP_IOTHREADS, MAX_INDEP_IOTHREADS);
            case ROOT_PORTS -> integer(key, value, 0, HypervisorReader.MAX_ROOT_PORTS);
            case HOTPLUG_SLOTS -> integer(key, value, 1, HypervisorReader.MAX_ROOT_PORTS);
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

    private static long integer(String key, String value, long min, long max) {
        String expected = "expected an integer from " + min + " to " + max + ", got " + Locator.show(value);
        if (!value.matches("[+-]?[0-9]{1,18}")) {
            throw refused(key, expected);
        }
        long n = Long.parseLong(value);
        if (n < min || n > max) {
            throw refused(key, expected);
        }
        return n;
    }

    /** The Go runtime's rule: a number above 0 (fractions allowed) and at most the host's CPUs; remote has no cap. */
    private static Object vcpus(KataConfig config, String key, String value) {
        int host = Runtime.getRuntime().availableProcessors();
        boolean capped = !"remote".equals(config.hypervisorName());
        String expected = "expected a number of vCPUs above 0" + (capped ? " and at most this host's " + host : "")
                + ", got " + Locator.show(value);
        if (!value.matches("[0-9]{1,9}(\\.[0-9]{1,9})?")) {
            throw refused(key, expected);
        }
        double d = Double.parseDouble(value);
        if (d <= 0 || (capped && d > host)) {
            throw refused(key, expected);
        }
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
            throw refused(key, listKey + " in " + config.source() + " is empty or absent, so no " + name
                    + " annotation is accepted");
        }
        AnnotationPaths.allowListProblem(value, listKey, globs).ifPresent(problem -> {
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
