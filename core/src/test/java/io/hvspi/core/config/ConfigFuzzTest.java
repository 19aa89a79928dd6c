package io.hvspi.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.ConfigException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.statistics.Statistics;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Fuzzes the configuration loader: whatever the file holds, loading gives a
 * {@link KataConfig} or a {@link ConfigException} that names the file, points at
 * a line of it and fits on one line; never another exception. Inputs are random
 * text and bytes, Kata's real files mutated (bit flips, truncations, deleted,
 * duplicated and inserted lines), and known keys set to random TOML values.
 * Seeds are fixed, so a run is reproducible; tries are bounded to keep it to seconds.
 */
class ConfigFuzzTest {
    static final String SEED = "20261129";
    static final Path NAME = Path.of("fuzz.toml");

    static final List<Path> FIXTURES = fixtures();
    static final List<byte[]> FIXTURE_BYTES = FIXTURES.stream().map(ConfigFuzzTest::read).toList();

    /** Keys the typed model reads, in every hypervisor table; plus runtime-rs's selector. */
    static final List<String> TYPED_KEYS = List.of("path", "kernel", "initrd", "image", "kernel_params",
            "machine_type", "default_vcpus", "default_memory", "default_bridges", "block_device_driver",
            "block_device_aio", "disable_block_device_use", "block_device_cache_set", "block_device_cache_direct",
            "block_device_cache_noflush", "enable_iothreads", "indep_iothreads", "indep_iothreads_policy",
            "pcie_root_port", "shared_fs", "jailer_path", "ctlpath", "virtio_fs_daemon", "vhost_user_store_path",
            "entropy_source", "enable_annotations", "valid_hypervisor_paths", "valid_jailer_paths", "valid_ctlpaths",
            "valid_virtio_fs_daemon_paths", "valid_vhost_user_store_paths", "valid_entropy_sources", "accel",
            "hotplug_slots", "hypervisor_name");

    private static Path dir;

    @BeforeContainer
    static void makeDir() throws IOException {
        dir = Files.createTempDirectory("hvspi-config-fuzz");
    }

    @AfterContainer
    static void removeDir() throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    // ---- properties

    @Property(tries = 1000, seed = SEED)
    void arbitraryTextGivesAConfigOrALocatedError(@ForAll("text") String toml) {
        checkParse(toml);
    }

    @Property(tries = 500, seed = SEED)
    void arbitraryBytesGiveAConfigOrALocatedError(@ForAll("bytes") byte[] bytes) {
        checkLoad(bytes);
    }

    @Property(tries = 1000, seed = SEED)
    void mutatedKataFilesGiveAConfigOrALocatedError(@ForAll("mutants") Mutant mutant) {
        checkLoad(mutant.apply());
        // the mutations must reach past the TOML parser, into the typed model, or they prove little
        Statistics.coverage(c -> {
            c.check("loaded").percentage(p -> p > 10);
            c.check("error at a key").percentage(p -> p > 5);
        });
    }

    @Property(tries = 2000, seed = SEED)
    void knownKeysWithRandomValuesGiveAConfigOrAnErrorAtTheirLine(@ForAll("hypervisorTypes") String type,
                                                                 @ForAll("typedKeys") String key,
                                                                 @ForAll("tomlValues") String value) {
        String toml = "[hypervisor." + type + "]\n" + key + " = " + value + "\n";
        Optional<ConfigException> e = checkParse(toml);
        if (e.isPresent() && e.get().key().filter(k -> k.endsWith("." + key)).isPresent()) {
            assertEquals(2, e.get().line(), e.get().getMessage());
            assertTrue(e.get().column() >= key.length() + 3, e.get().getMessage());
        }
        Statistics.coverage(c -> {
            c.check("loaded").percentage(p -> p > 5);
            c.check("error at a key").percentage(p -> p > 20);
        });
    }

    // ---- checks

    /** Parses {@code toml}; a {@link ConfigException} must be located; returns it when there is one. */
    static Optional<ConfigException> checkParse(String toml) {
        try {
            KataConfigLoader.parse(toml, NAME);
            Statistics.collect("loaded");
            return Optional.empty();
        } catch (ConfigException e) {
            assertLocated(e, NAME, toml.lines().count());
            Statistics.collect(outcome(e));
            return Optional.of(e);
        } catch (RuntimeException | StackOverflowError e) {
            throw new AssertionError("parse threw " + e + " for:\n" + toml, e);
        }
    }

    static void checkLoad(byte[] bytes) {
        Path file = dir.resolve("configuration.toml");
        try {
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try {
            KataConfigLoader.load(file);
            Statistics.collect("loaded");
        } catch (ConfigException e) {
            assertLocated(e, file, new String(bytes, StandardCharsets.UTF_8).lines().count());
            Statistics.collect(outcome(e));
        } catch (RuntimeException | StackOverflowError e) {
            throw new AssertionError("load threw " + e, e);
        }
    }

    /** The kind of error, for the statistics that show what the generators reach. */
    static String outcome(ConfigException e) {
        String p = e.problem();
        for (String kind : List.of("malformed TOML", "not UTF-8", "arrays and inline tables nest")) {
            if (p.startsWith(kind)) {
                return kind;
            }
        }
        return e.key().isPresent() ? "error at a key" : "other error";
    }

    /**
     * A file's error names the file, fits on one line and points at a line of
     * it; only "there is no hypervisor table at all" has no line to point at.
     */
    static void assertLocated(ConfigException e, Path file, long lines) {
        String m = e.getMessage();
        assertEquals(Optional.of(file), e.file(), m);
        assertFalse(m.chars().anyMatch(Character::isISOControl), () -> "not one printable line: " + m);
        if (e.line() == 0) {
            assertTrue(e.problem().startsWith("no [hypervisor.NAME] table"), () -> "no position: " + m);
        } else {
            assertTrue(e.line() >= 1 && e.line() <= lines + 1, () -> "line out of the file (" + lines + "): " + m);
            assertTrue(e.column() >= 1, () -> "no column: " + m);
        }
    }

    // ---- generators

    @Provide
    Arbitrary<String> text() {
        Arbitrary<String> any = Arbitraries.strings().all().ofMaxLength(200);
        Arbitrary<String> tomlish = Arbitraries.strings().withChars("[]{}=\"'#.,\n \t\\abcqemu_0123456789-+:")
                .ofMaxLength(200);
        Arbitrary<String> headed = tomlish.map(s -> "[hypervisor.qemu]\n" + s);
        return Arbitraries.oneOf(any, tomlish, headed);
    }

    @Provide
    Arbitrary<byte[]> bytes() {
        Arbitrary<byte[]> random = Arbitraries.bytes().array(byte[].class).ofMaxSize(300);
        Arbitrary<byte[]> headed = random.map(b -> concat("[hypervisor.qemu]\npath = \"".getBytes(StandardCharsets.UTF_8), b));
        return Arbitraries.oneOf(random, headed);
    }

    @Provide
    Arbitrary<Mutant> mutants() {
        Arbitrary<Integer> fixture = Arbitraries.integers().between(0, FIXTURES.size() - 1);
        Arbitrary<List<Mutation>> mutations = mutation().list().ofMinSize(1).ofMaxSize(4);
        return Combinators.combine(fixture, mutations).as(Mutant::new);
    }

    @Provide
    Arbitrary<String> hypervisorTypes() {
        return Arbitraries.of("qemu", "clh", "dragonball", "firecracker", "remote", "acme");
    }

    @Provide
    Arbitrary<String> typedKeys() {
        return Arbitraries.of(TYPED_KEYS);
    }

    @Provide
    Arbitrary<String> tomlValues() {
        return tomlValue(2);
    }

    static Arbitrary<Mutation> mutation() {
        Arbitrary<Integer> at = Arbitraries.integers().greaterOrEqual(0);
        return Arbitraries.oneOf(
                Combinators.combine(at, Arbitraries.integers().between(0, 7)).as(Mutation.FlipBit::new),
                at.map(Mutation.Truncate::new),
                at.map(Mutation.DeleteLine::new),
                at.map(Mutation.DuplicateLine::new),
                Combinators.combine(at, Arbitraries.strings().all().ofMaxLength(40)).as(Mutation.InsertLine::new),
                Combinators.combine(Arbitraries.of(TYPED_KEYS), tomlValue(2)).as(Mutation.SetKey::new));
    }

    /** TOML values of every type, well- and ill-formed, nested {@code depth} deep. */
    static Arbitrary<String> tomlValue(int depth) {
        Arbitrary<String> scalars = Arbitraries.oneOf(
                Arbitraries.longs().map(String::valueOf),
                Arbitraries.of("0", "-0", "+1", "1_000", "0xDEAD", "0o17", "0b101", "99999999999999999999",
                        "-9223372036854775808", "9223372036854775808", "01", "1__0", "_1"),
                Arbitraries.doubles().map(String::valueOf),
                Arbitraries.of("inf", "-inf", "nan", "+nan", "1e400", "-0.0", "1.", ".5", "6.02e23", "1e-400"),
                Arbitraries.of("true", "false", "True", "yes"),
                Arbitraries.strings().all().ofMaxLength(30).map(ConfigFuzzTest::basicString),
                Arbitraries.strings().all().ofMaxLength(30).map(s -> "'" + s + "'"),
                Arbitraries.strings().all().ofMaxLength(30).map(s -> "\"\"\"" + s + "\"\"\""),
                Arbitraries.of("\"a\\u0000b\"", "\"\\uD800\"", "\"\\U0010FFFF\"", "\"\\U00110000\"", "\"line\\nbreak\"",
                        "\"\\t\\r\\b\\f\"", "\"\"\"\nfirst\nsecond\"\"\"", "'''\nraw\n'''", "\"/usr/bin/qemu-*\"",
                        "\"[abc\"", "\"(a|b\"", "\"a{99999999999}\"", "\"\\\\\"", "\"/a/[z-a]\""),
                Arbitraries.of("1979-05-27", "1979-05-27T07:32:00Z", "07:32:00", "1979-05-27T00:32:00.999999-07:00",
                        "2026-02-30", "2026-13-01", "24:00:00"),
                Arbitraries.strings().withChars("abc-_./*?[]!^\\{},:=").ofMaxLength(20));
        if (depth == 0) {
            return scalars;
        }
        Arbitrary<String> inner = tomlValue(depth - 1);
        return Arbitraries.frequencyOf(
                Tuple.of(8, scalars),
                Tuple.of(2, inner.list().ofMaxSize(4).map(l -> "[" + String.join(", ", l) + "]")),
                Tuple.of(2, Combinators.combine(Arbitraries.strings().alpha().ofMinLength(1).ofMaxLength(8), inner)
                        .as((k, v) -> k + " = " + v).list().ofMaxSize(3)
                        .map(l -> "{" + String.join(", ", l) + "}")),
                // deep enough to overflow tomlj's recursive parser, and just around hvspi's limit
                Tuple.of(1, Arbitraries.oneOf(Arbitraries.integers().between(60, 70), Arbitraries.integers()
                        .between(1, 3000)).map(n -> "[".repeat(n) + "]".repeat(n))),
                Tuple.of(1, Arbitraries.integers().between(1, 3000)
                        .map(n -> "{a = ".repeat(n) + "'[{'" + "}".repeat(n))));
    }

    static String basicString(String s) {
        StringBuilder b = new StringBuilder("\"");
        s.codePoints().forEach(c -> {
            if (c == '"' || c == '\\') {
                b.append('\\').appendCodePoint(c);
            } else if (c < 0x20 || c == 0x7f) {
                b.append(String.format("\\u%04x", c));
            } else {
                b.appendCodePoint(c);
            }
        });
        return b.append('"').toString();
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    // ---- mutations of Kata's files

    record Mutant(int fixture, List<Mutation> mutations) {
        byte[] apply() {
            byte[] bytes = FIXTURE_BYTES.get(fixture);
            for (Mutation m : mutations) {
                bytes = m.apply(bytes);
            }
            return bytes;
        }

        @Override
        public String toString() {
            return FIXTURES.get(fixture).getFileName() + " " + mutations;
        }
    }

    sealed interface Mutation {
        byte[] apply(byte[] in);

        record FlipBit(int at, int bit) implements Mutation {
            public byte[] apply(byte[] in) {
                if (in.length == 0) {
                    return in;
                }
                byte[] out = in.clone();
                out[at % in.length] ^= (byte) (1 << bit);
                return out;
            }
        }

        record Truncate(int at) implements Mutation {
            public byte[] apply(byte[] in) {
                return Arrays.copyOf(in, in.length == 0 ? 0 : at % in.length);
            }
        }

        record DeleteLine(int at) implements Mutation {
            public byte[] apply(byte[] in) {
                List<String> lines = lines(in);
                if (!lines.isEmpty()) {
                    lines.remove(at % lines.size());
                }
                return join(lines);
            }
        }

        record DuplicateLine(int at) implements Mutation {
            public byte[] apply(byte[] in) {
                List<String> lines = lines(in);
                if (!lines.isEmpty()) {
                    int i = at % lines.size();
                    lines.add(i, lines.get(i));
                }
                return join(lines);
            }
        }

        record InsertLine(int at, String line) implements Mutation {
            public byte[] apply(byte[] in) {
                List<String> lines = lines(in);
                lines.add(lines.isEmpty() ? 0 : at % (lines.size() + 1), latin1(line));
                return join(lines);
            }
        }

        /** Sets a known key (uncommenting Kata's commented-out line, or adding it under the first table). */
        record SetKey(String key, String value) implements Mutation {
            public byte[] apply(byte[] in) {
                List<String> lines = lines(in);
                Pattern keyLine = Pattern.compile("^\\s*#?\\s*" + Pattern.quote(key) + "\\s*=");
                for (int i = 0; i < lines.size(); i++) {
                    if (keyLine.matcher(lines.get(i)).find()) {
                        lines.set(i, latin1(key + " = " + value));
                        return join(lines);
                    }
                }
                for (int i = 0; i < lines.size(); i++) {
                    Matcher header = Pattern.compile("^\\[hypervisor\\.[a-z]+]").matcher(lines.get(i));
                    if (header.find()) {
                        lines.add(i + 1, latin1(key + " = " + value));
                        return join(lines);
                    }
                }
                lines.add(latin1(key + " = " + value));
                return join(lines);
            }
        }

        private static List<String> lines(byte[] in) {
            return new ArrayList<>(Arrays.asList(new String(in, StandardCharsets.ISO_8859_1).split("\n", -1)));
        }

        /** {@code s}'s UTF-8 bytes as the one-char-per-byte text the mutations work on. */
        private static String latin1(String s) {
            return new String(s.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1);
        }

        private static byte[] join(List<String> lines) {
            return String.join("\n", lines).getBytes(StandardCharsets.ISO_8859_1);
        }
    }

    // ---- fixtures

    private static List<Path> fixtures() {
        try (Stream<Path> files = Files.list(KataConfigFixturesTest.DIR)) {
            return files.filter(p -> p.toString().endsWith(".toml")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static byte[] read(Path p) {
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
