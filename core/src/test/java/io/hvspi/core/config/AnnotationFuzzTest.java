package io.hvspi.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.ConfigException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.EdgeCasesMode;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.statistics.Statistics;

/**
 * Fuzzes the annotation policy, whose input a pod author controls: random
 * keys and values (unicode, control characters, regular expression
 * metacharacters, megabyte values, paths that try to climb out) only ever give
 * a configuration that keeps every promise of the policy, or a
 * {@link ConfigException} that names one of the annotations on one line.
 */
class AnnotationFuzzTest {
    static final String P = AnnotationPolicy.PREFIX;
    static final List<String> NAMES = AnnotationPolicy.SUPPORTED.stream().sorted().toList();

    /** The fixture of {@link AnnotationPolicyTest} with every annotation enabled, and one with a narrow list. */
    static final List<KataConfig> CONFIGS = List.of(AnnotationPolicyTest.all(),
            AnnotationPolicyTest.qemu("[\"kernel_params\", \"path|initrd\", \"indep_.*\", \"virtio_fs_daemon\"]", ""));

    @Property(tries = 2000, seed = "20261129", edgeCases = EdgeCasesMode.NONE)
    void randomAnnotationsGiveAConfigKeepingThePolicyOrAnErrorNamingOne(
            @ForAll("configIndex") int config, @ForAll("annotations") Map<String, String> annotations) {
        KataConfig base = CONFIGS.get(config);
        KataConfig result;
        try {
            result = base.withAnnotations(annotations);
        } catch (ConfigException e) {
            String m = e.getMessage();
            assertEquals(Optional.empty(), e.file(), m);
            assertEquals(0, e.line(), m);
            String key = e.key().orElseThrow(() -> new AssertionError("names no annotation: " + m));
            assertTrue(annotations.keySet().stream().map(Locator::printable).anyMatch(key::equals),
                    () -> "names " + key + ", not one of " + annotations.keySet());
            assertTrue(m.startsWith(key + ": "), m);
            assertOnePrintableLine(m);
            assertTrue(m.length() < 4 * Locator.SHOWN_CHARS + 2000, () -> "message of " + m.length() + " characters");
            Statistics.collect("refused");
            return;
        } catch (RuntimeException | StackOverflowError e) {
            throw new AssertionError("withAnnotations threw " + e + " for " + annotations, e);
        }
        Statistics.collect("applied");
        assertKeepsThePolicy(base, result, annotations);
        Statistics.coverage(c -> c.check("applied").percentage(p -> p > 5));
    }

    /** What an applied annotation must satisfy, whatever it was. */
    static void assertKeepsThePolicy(KataConfig base, KataConfig result, Map<String, String> annotations) {
        HypervisorConfig h = result.hypervisor();
        for (Map.Entry<String, String> a : annotations.entrySet()) {
            assertTrue(a.getKey().startsWith(P), a.getKey());
            String name = a.getKey().substring(P.length());
            assertTrue(AnnotationPolicy.SUPPORTED.contains(name), name);
            assertTrue(AnnotationPolicy.enabled(base.hypervisor().enableAnnotations(), name), name);
            String value = a.getValue();
            assertFalse(value.codePoints().anyMatch(Character::isISOControl), () -> name + " = " + value);
            if (name.equals("indep_iothreads")) {
                assertTrue(h.indepIothreads() >= 1 && h.indepIothreads() <= 50, value);
            }
            String listKey = HypervisorReader.GUARDED_PATHS.get(name);
            if (listKey != null) {
                assertTrue(value.startsWith("/") && Path.of(value).normalize().toString().equals(value), value);
                assertTrue(h.validPaths(listKey).stream().anyMatch(g -> Glob.compile(g, KataRuntime.GO).matches(value)),
                        value);
            }
        }
        assertEquals(annotations, result.annotations().entrySet().stream()
                .filter(e -> annotations.containsKey(e.getKey()))
                .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue)));
    }

    static void assertOnePrintableLine(String m) {
        assertFalse(m.codePoints().anyMatch(c -> Character.isISOControl(c)
                || Character.getType(c) == Character.LINE_SEPARATOR
                || Character.getType(c) == Character.PARAGRAPH_SEPARATOR
                || Character.getType(c) == Character.FORMAT), () -> "not one printable line: " + m);
    }

    // ---- generators

    @Provide
    Arbitrary<Integer> configIndex() {
        return Arbitraries.integers().between(0, CONFIGS.size() - 1);
    }

    @Provide
    Arbitrary<Map<String, String>> annotations() {
        Arbitrary<Map.Entry<String, String>> entry = keys().flatMap(k -> Arbitraries.frequencyOf(
                Tuple.of(3, plausible(k.startsWith(P) ? k.substring(P.length()) : k)),
                Tuple.of(2, values())).map(v -> Map.entry(k, v)));
        return entry.list().ofMinSize(1).ofMaxSize(2)
                .map(l -> l.stream().collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue, (a, b) -> a)));
    }

    /** Values that fit the annotation {@code name}, so that enough tries get past the checks to test what follows. */
    static Arbitrary<String> plausible(String name) {
        Arbitrary<String> word = Arbitraries.strings().alpha().numeric().withChars("-_.").ofMinLength(1).ofMaxLength(12);
        return switch (name) {
            case "enable_iothreads", "disable_block_device_use", "block_device_cache_set", "block_device_cache_direct",
                 "block_device_cache_noflush", "enable_iommu" -> Arbitraries.of("true", "false", "1", "0", "T", "F");
            case "path" -> word.map(w -> "/usr/bin/qemu-system-" + w);
            case "virtio_fs_daemon" -> word.map(w -> "/usr/lib/kata/" + w);
            case "entropy_source" -> Arbitraries.of("/dev/urandom", "/dev/random");
            case "ctlpath" -> Arbitraries.just("/usr/bin/acrnctl");
            case "vhost_user_store_path" -> Arbitraries.just("/var/run/kata-containers/vhost-user");
            case "kernel", "initrd", "image", "jailer_path" -> word.list().ofMinSize(1).ofMaxSize(4)
                    .map(l -> "/" + String.join("/", l));
            case "kernel_params", "kernel_verity_params" -> Combinators.combine(word, word).as((k, v) -> k + "=" + v)
                    .list().ofMaxSize(4).map(l -> String.join(" ", l));
            case "default_vcpus" -> Arbitraries.integers().between(1, Runtime.getRuntime().availableProcessors())
                    .map(String::valueOf);
            case "default_memory" -> Arbitraries.integers().between(256, 65536).map(String::valueOf);
            case "indep_iothreads" -> Arbitraries.integers().between(1, 50).map(String::valueOf);
            case "pcie_root_port" -> Arbitraries.integers().between(0, 64).map(String::valueOf);
            case "hotplug_slots" -> Arbitraries.integers().between(1, 64).map(String::valueOf);
            case "machine_type" -> Arbitraries.of("q35", "pc-q35-7.2", "microvm", "virt");
            case "block_device_driver" -> Arbitraries.of(HypervisorReader.BLOCK_DRIVERS);
            case "block_device_aio" -> Arbitraries.of(HypervisorReader.BLOCK_AIO);
            case "indep_iothreads_policy" -> Arbitraries.of(HypervisorReader.POLICIES);
            case "accel" -> Arbitraries.of(HypervisorReader.ACCELS);
            default -> values();
        };
    }

    static Arbitrary<String> keys() {
        Arbitrary<String> supported = Arbitraries.of(NAMES);
        Arbitrary<String> nearMisses = Arbitraries.oneOf(
                supported.map(n -> n + "_extra"), supported.map(n -> "x" + n), supported.map(String::toUpperCase),
                supported.map(n -> n + "\n"), supported.map(n -> n + "\u0000"), supported.map(n -> " " + n),
                supported.map(n -> n.replace('_', '.')), supported.map(n -> n.replace("e", "\u0435")));
        Arbitrary<String> random = Arbitraries.oneOf(Arbitraries.strings().all().ofMaxLength(30),
                Arbitraries.strings().withChars(".*+?()[]{}|^$\\").ofMaxLength(10));
        Arbitrary<String> names = Arbitraries.frequencyOf(Tuple.of(6, supported), Tuple.of(2, nearMisses),
                Tuple.of(1, random));
        return Arbitraries.frequencyOf(
                Tuple.of(12, names.map(n -> P + n)),
                Tuple.of(1, names.map(n -> "io.katacontainers.config.hypervisor" + n)),
                Tuple.of(1, names.map(n -> "io.katacontainers.config.runtime." + n)));
    }

    static Arbitrary<String> values() {
        Arbitrary<String> segment = Arbitraries.of("usr", "bin", "qemu-system-x86_64", "qemu-system-aarch64", "opt",
                "qemu", "lib", "kata", "virtiofsd", "libexec", "..", ".", "", "tmp", "evil", "*", "qemu-*", "a\nb",
                "a\u0000b", "x,y", "\u202e", "dev", "urandom");
        Arbitrary<String> paths = segment.list().ofMinSize(1).ofMaxSize(6)
                .map(l -> "/" + String.join("/", l));
        Arbitrary<String> numbers = Arbitraries.oneOf(Arbitraries.integers().between(-100, 100).map(String::valueOf),
                Arbitraries.of("1", "50", "51", "0", "-0", "+4", "4.0", "0.5", "1e3", " 4", "4 ", "\u0664",
                        "99999999999999999999", "NaN", "Infinity", "0x10", "1_0", "00000000000000000001"));
        Arbitrary<String> words = Arbitraries.of("true", "false", "T", "yes", "kvm", "tcg", "first", "round-robin",
                "least-loaded", "virtio-blk-pci", "native", "q35", "q35,accel=tcg", "console=hvc0 quiet", "a=1 a=2",
                "");
        Arbitrary<String> random = Arbitraries.oneOf(Arbitraries.strings().all().ofMaxLength(40),
                Arbitraries.strings().withChars(".*+?()[]{}|^$\\/,=-\n\t ").ofMaxLength(20));
        Arbitrary<String> huge = Arbitraries.of("a", "/", "1", "*", " ", "x=").flatMap(s ->
                Arbitraries.integers().between(5_000, 50_000).map(n -> "/usr/bin/" + s.repeat(n)));
        return Arbitraries.frequencyOf(Tuple.of(5, paths), Tuple.of(3, numbers), Tuple.of(3, words),
                Tuple.of(3, random), Tuple.of(1, huge));
    }
}
