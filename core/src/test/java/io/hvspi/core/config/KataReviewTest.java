package io.hvspi.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.ConfigException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One regression test per finding of the review of the Kata configuration rules
 * (2026-12-07), each with the input that showed it.
 */
class KataReviewTest {
    static final String P = AnnotationPolicy.PREFIX;

    static KataConfig fixture(String name) {
        return KataConfigLoader.load(KataConfigFixturesTest.DIR.resolve(name));
    }

    static ConfigException refused(KataConfig config, String key, String value) {
        return assertThrows(ConfigException.class, () -> config.withAnnotations(Map.of(key, value)));
    }

    /** Long.parseLong threw NumberFormatException on 20 digits; a size past 2^63 MiB wrapped to 4096 MiB. */
    @ParameterizedTest
    @ValueSource(strings = {"99999999999999999999", "19342813113834071090266112 B", "9223372036854775807"})
    void aMemorySizeBeyondLongIsRefusedNotWrappedOrThrown(String value) {
        ConfigException e = refused(fixture("configuration-clh-runtime-rs.toml"), P + "default_memory", value);
        assertEquals(Optional.of(P + "default_memory"), e.key());
        assertTrue(e.problem().startsWith("expected a memory size from 64 MiB"), e.getMessage());
    }

    /** plain() recursed once per part of a dotted key or table header: StackOverflowError at 20000 parts. */
    @ParameterizedTest
    @ValueSource(strings = {"[hypervisor.qemu]\n%s = 1\n", "[hypervisor.qemu.%s]\nx = 1\n",
            "[hypervisor.qemu]\nx = [{%s = 1}]\n"})
    void longDottedKeysAreALocatedErrorNotAStackOverflow(String template) {
        String toml = template.formatted("a" + ".a".repeat(20000));
        ConfigException e = assertThrows(ConfigException.class,
                () -> KataConfigLoader.parse(toml, Path.of("configuration.toml")));
        assertEquals(Optional.of(Path.of("configuration.toml")), e.file());
        assertTrue(e.problem().startsWith("tables and arrays nest more than 128 deep here"), e.getMessage());
    }

    @org.junit.jupiter.api.Test
    void dottedKeysUpToTheLimitLoad() {
        // root, hypervisor, qemu, then 125 parts: 128 levels
        String toml = "[hypervisor.qemu]\n" + "a" + ".a".repeat(124) + " = 1\n";
        assertTrue(KataConfigLoader.parse(toml, Path.of("c.toml")).hypervisorTable().containsKey("a"));
    }

    /** Toml.parse of the inflated document ran without TomlDepth: a 316-byte annotation overflowed the stack. */
    @org.junit.jupiter.api.Test
    void deeplyNestedInitdataIsRefusedNotAStackOverflow() throws java.io.IOException {
        java.io.ByteArrayOutputStream gz = new java.io.ByteArrayOutputStream();
        try (java.util.zip.GZIPOutputStream out = new java.util.zip.GZIPOutputStream(gz)) {
            out.write(("a = " + "[".repeat(3000)).getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        String value = java.util.Base64.getEncoder().encodeToString(gz.toByteArray());
        ConfigException e = refused(fixture("configuration-qemu-coco-dev.toml"), P + "cc_init_data", value);
        assertEquals(P + "cc_init_data: initdata:1:69: arrays and inline tables nest more than 64 deep here;"
                + " hvspi refuses that before parsing", e.getMessage());
    }

    static java.util.stream.Stream<String> beyondGosLimits() {
        return java.util.stream.Stream.of("(".repeat(3000) + "a" + ")".repeat(3000), "((a{1000}){1000}){1000}",
                "(a{10}){101}", "((x{2}|y){20}){30}");
    }

    /**
     * RE2/J overflowed the stack on 3000 nested groups and expanded nested repeats for
     * minutes; Go's regexp/syntax refuses both, so the Go runtime ignores the pattern and
     * the others apply, while runtime-rs's RegexSet fails and enables nothing.
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("beyondGosLimits")
    @org.junit.jupiter.api.Timeout(value = 10, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
    void patternsBeyondGosLimitsAreUncompilableNotACrashOrAHang(String pattern) {
        String list = "enable_annotations = ['" + pattern + "', 'kernel_params']";
        KataConfig go = KataRuntimeRulesTest.go("qemu", list);
        assertTrue(AnnotationPolicy.patternProblem(pattern, KataRuntime.GO).isPresent());
        assertEquals(java.util.List.of(), AnnotationPolicy.enabledBy(go).get(pattern));
        assertEquals("quiet", go.withAnnotations(Map.of(P + "kernel_params", "quiet")).hypervisor().kernelParams());
        KataConfig rs = KataRuntimeRulesTest.rs("qemu", list);
        refused(rs, P + "kernel_params", "quiet");
    }

    @ParameterizedTest
    @ValueSource(strings = {"(a{10}){100}", "(((a)))", "[(]{1000}", "a{2,}{0}", "\\Q((\\E{1000}", "x{1000}",
        "\\x{2028}", "kernel_\\x{1001}", "\\p{Greek}{3}", "(\\P{L}{1000})"})
    void patternsWithinGosLimitsStillCompile(String pattern) {
        assertEquals(Optional.empty(), AnnotationPatterns.limitProblem(pattern));
    }

    /**
     * Rust's regex-syntax refuses an AST deeper than 250 (a group and the concatenation in it are
     * two levels each), far below Go's 1000: runtime-rs's RegexSet then fails and enables nothing,
     * while the Go runtime keeps the pattern.
     */
    @ParameterizedTest
    @ValueSource(ints = {125, 126})
    void rustsNestLimitAppliesToRuntimeRsFilesOnly(int levels) {
        String pattern = "(k".repeat(levels) + ")".repeat(levels); // depth 2 * levels - 1: 249, then 251
        assertEquals(2 * levels - 1, AnnotationPatterns.rustDepth(pattern));
        String list = "enable_annotations = ['" + pattern + "', 'kernel_params']";
        assertEquals("quiet", KataRuntimeRulesTest.go("qemu", list).withAnnotations(Map.of(P + "kernel_params", "quiet"))
                .hypervisor().kernelParams());
        KataConfig rs = KataRuntimeRulesTest.rs("qemu", list);
        if (levels == 125) {
            assertEquals("quiet", rs.withAnnotations(Map.of(P + "kernel_params", "quiet")).hypervisor().kernelParams());
        } else {
            assertTrue(AnnotationPolicy.patternProblem(pattern, KataRuntime.RUNTIME_RS).orElseThrow()
                    .contains("Rust regex-syntax's nest limit"));
            refused(rs, P + "kernel_params", "quiet");
        }
    }

    /** The levels regex-syntax's NestLimiter counts: groups, classes, repetitions, alternations, concatenations. */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource(delimiter = ' ', value = {
        "a 0", "ab 1", "(a) 1", "(ab) 2", "a* 1", "a*? 1", "ab* 2", "(a)* 2", "a|b 1", "ab|c 2", "[ab] 1",
        "(?i)a 1", "(?i:a) 1", "(?P<n>ab) 2", "\\d{2,3} 1", "\\Qab\\E 1", "\\x{41} 0", "((a|b)c)+ 5"})
    void rustDepthCountsAsRegexSyntaxDoes(String pattern, int depth) {
        assertEquals(depth, AnnotationPatterns.rustDepth(pattern), pattern);
    }

    /** Glob took '!' as negation for a Go file too, where filepath.Match reads "[!a]" as the class {!, a}. */
    @org.junit.jupiter.api.Test
    void aGoFilesBangClassDoesNotNegate() {
        String body = "enable_annotations = ['^path$']\nvalid_hypervisor_paths = ['/x/qemu-[!a]']";
        ConfigException e = refused(KataRuntimeRulesTest.go("qemu", body), P + "path", "/x/qemu-b");
        assertTrue(e.problem().contains("matches no glob of valid_hypervisor_paths"), e.getMessage());
        assertEquals("/x/qemu-!", KataRuntimeRulesTest.go("qemu", body).withAnnotations(Map.of(P + "path", "/x/qemu-!"))
                .hypervisor().path());
        // runtime-rs's glob crate negates with '!'
        assertEquals("/x/qemu-b", KataRuntimeRulesTest.rs("qemu", body).withAnnotations(Map.of(P + "path", "/x/qemu-b"))
                .hypervisor().path());
    }

    /** (int) 3000000000 wrapped negative: a valid u32 was refused as "below runtime-rs's minimum". */
    @org.junit.jupiter.api.Test
    void aRuntimeRsMemoryBeyondAnIntIsNotBelowTheMinimum() {
        KataConfig c = KataRuntimeRulesTest.rs("qemu", "default_memory = 3000000000");
        assertEquals(3000000000L, c.hypervisorTable().get("default_memory"));
        assertEquals(Integer.MAX_VALUE, c.hypervisor().defaultMemoryMib()); // clamped only in the typed value
    }

    /** The annotation's 0 replaced the file's value; Go sets it only above 0, runtime-rs up to 16. */
    @org.junit.jupiter.api.Test
    void pcieRootPortZeroLeavesAGoFilesValue() {
        String body = "enable_annotations = ['pcie_root_port']\npcie_root_port = 4";
        Map<String, String> zero = Map.of(P + "pcie_root_port", "0");
        assertEquals(4, KataRuntimeRulesTest.go("qemu", body).withAnnotations(zero).hypervisor().pcieRootPort());
        assertEquals(0, KataRuntimeRulesTest.rs("qemu", body).withAnnotations(zero).hypervisor().pcieRootPort());
        ConfigException e = refused(KataRuntimeRulesTest.rs("qemu", body), P + "pcie_root_port", "17");
        assertTrue(e.problem().startsWith("expected an integer from 0 to 16"), e.getMessage());
    }

    /** plain() turned dates into strings, so path = 1979-05-27 was accepted as a path. */
    @org.junit.jupiter.api.Test
    void aDateForAKeyKataReadsIsAnError() {
        ConfigException e = assertThrows(ConfigException.class, () -> KataRuntimeRulesTest.go("qemu",
                "path = 1979-05-27"));
        assertEquals("configuration.toml:2:8: hypervisor.qemu.path: got the TOML date 1979-05-27: no Kata key takes"
                + " a date (Kata's TOML decoders refuse it)", e.getMessage());
        assertThrows(ConfigException.class, () -> KataRuntimeRulesTest.go("qemu",
                "enable_annotations = [1979-05-27T07:32:00Z]"));
        // a key no runtime reads keeps the date's text, for a plugin
        assertEquals("1979-05-27", KataRuntimeRulesTest.go("qemu", "my_plugin_since = 1979-05-27")
                .hypervisorTable().get("my_plugin_since"));
    }

    static final String VERITY = "root_hash=abc,salt=def,data_blocks=8,data_block_size=4096,hash_block_size=4096";

    /** kernel_verity_params was any string: an empty one wiped the file's value, a malformed one was applied. */
    @org.junit.jupiter.api.Test
    void kernelVerityParamsAreParsedAndABlankOneIsIgnored() {
        String body = "enable_annotations = ['kernel_verity_params']\nkernel_verity_params = '" + VERITY + "'";
        for (KataConfig c : java.util.List.of(KataRuntimeRulesTest.go("qemu", body),
                KataRuntimeRulesTest.rs("qemu", body))) {
            assertEquals(VERITY, c.withAnnotations(Map.of(P + "kernel_verity_params", ""))
                    .hypervisorTable().get("kernel_verity_params"));
            String other = VERITY.replace("abc", "fed");
            assertEquals(other, c.withAnnotations(Map.of(P + "kernel_verity_params", other))
                    .hypervisorTable().get("kernel_verity_params"));
        }
        KataConfig go = KataRuntimeRulesTest.go("qemu", body);
        assertEquals("invalid kernel_verity_params data_block_size: must be multiple of 512",
                refused(go, P + "kernel_verity_params", VERITY.replace("data_block_size=4096", "data_block_size=1000"))
                        .problem());
        assertEquals("missing kernel_verity_params salt",
                refused(go, P + "kernel_verity_params", VERITY.replace("salt=def", "salt=")).problem());
        assertEquals("invalid kernel_verity_params entry: \"junk\"",
                refused(go, P + "kernel_verity_params", "junk").problem());
        KataConfig rs = KataRuntimeRulesTest.rs("qemu", body);
        assertEquals("Invalid kernel_verity_params data_blocks: must be non-zero",
                refused(rs, P + "kernel_verity_params", VERITY.replace("data_blocks=8", "data_blocks=0")).problem());
        // runtime-rs ignores a blank value; Go applies it (ParseKernelVerityParams accepts it)
        assertEquals(VERITY, rs.withAnnotations(Map.of(P + "kernel_verity_params", "  "))
                .hypervisorTable().get("kernel_verity_params"));
        assertEquals("  ", go.withAnnotations(Map.of(P + "kernel_verity_params", "  "))
                .hypervisorTable().get("kernel_verity_params"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"root_hash=,salt=s,data_blocks=1,data_block_size=512,hash_block_size=512",
            "root_hash=r,salt=s,data_blocks=+1,data_block_size=512,hash_block_size=512",
            "root_hash=r,salt=s,data_blocks=1,data_block_size=512,hash_block_size=18446744073709551616"})
    void theRuntimesDifferOnEdgeCases(String value) {
        // Go: empty root_hash refused, '+' refused; runtime-rs: accepts both; neither takes 2^64
        assertTrue(KernelVerity.problem(value, KataRuntime.GO).isPresent());
        assertEquals(!value.endsWith("616"), KernelVerity.problem(value, KataRuntime.RUNTIME_RS).isEmpty());
    }
}
