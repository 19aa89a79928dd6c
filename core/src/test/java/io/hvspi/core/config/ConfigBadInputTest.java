package io.hvspi.core.config;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.ConfigException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One regression test per bug the fuzzing of {@link ConfigFuzzTest} and
 * {@link AnnotationFuzzTest} found, each with the smallest input that showed it.
 */
class ConfigBadInputTest {
    static final Path FILE = Path.of("configuration.toml");
    static final String P = AnnotationPolicy.PREFIX;

    static ConfigException error(String toml) {
        return assertThrows(ConfigException.class, () -> KataConfigLoader.parse(toml, FILE));
    }

    static ConfigException refused(KataConfig config, String key, String value) {
        return assertThrows(ConfigException.class, () -> config.withAnnotations(Map.of(key, value)));
    }

    // ---- the loader

    /** tomlj recursed once per level and threw StackOverflowError at about a thousand. */
    @ParameterizedTest
    @ValueSource(strings = {"[", "{a = "})
    void deepNestingIsALocatedErrorNotAStackOverflow(String open) {
        String close = open.equals("[") ? "]" : "}";
        String toml = "[hypervisor.qemu]\nx = " + open.repeat(5000) + "1" + close.repeat(5000) + "\n";
        ConfigException e = error(toml);
        assertEquals("configuration.toml:2:" + (5 + TomlDepth.MAX_DEPTH * open.length()) + ": arrays and inline"
                + " tables nest more than 64 deep here; hvspi refuses that before parsing", e.getMessage());
    }

    @Test
    void nestingUpToTheLimitAndBracketsInStringsAndCommentsAreFine() {
        String deep = "[".repeat(TomlDepth.MAX_DEPTH - 1) + "]".repeat(TomlDepth.MAX_DEPTH - 1);
        String brackets = "[".repeat(500);
        KataConfig c = KataConfigLoader.parse("[hypervisor.qemu]\nx = " + deep + "\n"
                + "kernel_params = \"" + brackets + "\"\n"
                + "# " + brackets + "\n"
                + "machine_type = '''\n" + brackets + "'''\n", FILE);
        assertEquals(brackets, c.hypervisor().kernelParams());
    }

    @Test
    void anUnclosedStringDoesNotHideDeepNestingFromTheCheck() {
        ConfigException e = error("[hypervisor.qemu]\nx = \"\"\"" + "[".repeat(5000) + "\n");
        assertTrue(e.problem().startsWith("arrays and inline tables nest more than 64"), e.getMessage());
    }

    /** Files.readString threw MalformedInputException, reported without a position. */
    @Test
    void bytesThatAreNotUtf8AreAnErrorAtTheirLineAndColumn(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("configuration.toml");
        byte[] head = "[hypervisor.qemu]\nkernel_params = \"é".getBytes(StandardCharsets.UTF_8);
        byte[] bytes = ConfigFuzzTest.concat(head, new byte[] {(byte) 0xC3, '"', '\n'});
        Files.write(file, bytes);
        ConfigException e = assertThrows(ConfigException.class, () -> KataConfigLoader.load(file));
        assertEquals(file + ":2:19: not UTF-8: byte 0xC3 at offset 37 does not start a valid UTF-8 sequence"
                + " (TOML files are UTF-8)", e.getMessage());
    }

    /** A value with a newline was shown raw, so one error printed as two lines. */
    @Test
    void controlCharactersInAValueAreEscapedInTheMessage() {
        assertEquals("configuration.toml:2:9: hypervisor.qemu.accel: expected one of \"auto\", \"kvm\", \"tcg\", got"
                + " \"kvm\\nWARN forged\\u202e\"", error("[hypervisor.qemu]\naccel = \"kvm\\nWARN forged\\u202e\"\n")
                .getMessage());
    }

    /** A quoted table name or key with a newline reached the message raw. */
    @Test
    void oddTableNamesAndKeysAreSpelledAsTomlQuotesThem() {
        ConfigException e = error("[hypervisor.\"q\\nemu\"]\naccel = 1\n");
        assertEquals("configuration.toml:2:9: hypervisor.\"q\\nemu\".accel: expected a string, got 1",
                e.getMessage());
        KataConfig c = KataConfigLoader.parse("[hypervisor.qemu]\n\"a b\\r\" = 1\n", FILE);
        assertEquals("hypervisor.qemu.\"a b\\r\"", c.unknownKeys().get(0).key());
    }

    @Test
    void aLongValueIsCutInTheMessage() {
        String value = "x".repeat(100_000);
        ConfigException e = error("[hypervisor.qemu]\naccel = \"" + value + "\"\n");
        assertEquals("configuration.toml:2:9: hypervisor.qemu.accel: expected one of \"auto\", \"kvm\", \"tcg\", got \""
                + "x".repeat(Locator.SHOWN_CHARS) + "\"... (100000 characters)", e.getMessage());
    }

    // ---- annotations

    /** Values with control characters were applied (kernel_params with a newline, machine_type with NUL). */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "kernel_params        | 'quiet\\ninit=/bin/sh' | \"quiet\\ninit=/bin/sh\"",
            "kernel_verity_params | 'root_hash=ab\\u0000'   | \"root_hash=ab\\u0000\"",
            "kernel_params        | 'quiet\\u2028x'         | \"quiet\\u2028x\"",
            "kernel_params        | 'quiet\\u202ex'         | \"quiet\\u202ex\"",
    })
    void annotationValuesWithControlCharactersAreRefused(String name, String escaped, String shown) {
        String value = unescape(escaped);
        ConfigException e = refused(AnnotationPolicyTest.all(), P + name, value);
        assertEquals(P + name + ": expected printable characters only (no control, format or line-separator"
                + " characters), got " + shown, e.getMessage());
    }

    /** machine_type took any non-blank string, e.g. an option list for QEMU's -machine. */
    @ParameterizedTest
    @ValueSource(strings = {"q35,accel=tcg", "q35 -x", "-q35", "../q35", "q35=1", "q35\u00e9"})
    void machineTypeAnnotationIsAQemuMachineName(String value) {
        ConfigException e = refused(AnnotationPolicyTest.all(), P + "machine_type", value);
        assertTrue(e.problem().startsWith("expected a machine type name"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"q35", "pc-q35-7.2", "s390-ccw-virtio", "virt", "pseries-8.0", "microvm"})
    void qemuMachineNamesAreAccepted(String value) {
        assertEquals(value, AnnotationPolicyTest.all().withAnnotations(Map.of(P + "machine_type", value))
                .hypervisor().machineType());
    }

    /** An annotation key with a newline reached the message raw; it is named with the newline escaped. */
    @Test
    void anAnnotationKeyWithControlCharactersIsNamedEscaped() {
        ConfigException e = refused(AnnotationPolicyTest.all(), P + "kernel_params\nINFO ok", "quiet");
        assertEquals(Optional.of(P + "kernel_params\\nINFO ok"), e.key());
        // ".*" matches unanchored (as Kata's regexp.MatchString), so the list of names Kata knows refuses it
        assertEquals(P + "kernel_params\\nINFO ok: neither Kata nor hvspi knows this annotation", e.getMessage());
    }

    @Test
    void aHugeAnnotationValueIsRefusedWithAShortMessage() {
        String value = "/usr/bin/" + "a".repeat(1_000_000);
        ConfigException e = refused(AnnotationPolicyTest.all(), P + "path", value);
        assertTrue(e.getMessage().length() < 400, () -> e.getMessage().length() + " characters");
        assertTrue(e.problem().startsWith("expected a path of at most 4095 bytes"), e.getMessage());
    }

    @Test
    void annotationsThatPassStillLoad() {
        assertDoesNotThrow(() -> AnnotationPolicyTest.all().withAnnotations(Map.of(P + "kernel_params",
                "console=hvc0 dm-mod.create=\"a,b\"", P + "kernel", "/boot/vmlinuz-6.1.0-amd64")));
    }

    static String unescape(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && s.charAt(i + 1) == 'n') {
                b.append('\n');
                i++;
            } else if (c == '\\' && s.charAt(i + 1) == 'u') {
                b.append((char) Integer.parseInt(s.substring(i + 2, i + 6), 16));
                i += 5;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }
}
