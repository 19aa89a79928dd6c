package io.hvspi.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.ConfigException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The rules of the runtime that owns the file: which runtime that is, its
 * defaults and its validation, each against the Kata source it follows
 * (kata-containers 7c6ba40c).
 */
class KataRuntimeRulesTest {
    static final String P = AnnotationPolicy.PREFIX;
    static final int HOST = Runtime.getRuntime().availableProcessors();

    static KataConfig go(String type, String body) {
        return KataConfigLoader.parse("[hypervisor." + type + "]\n" + body + "\n", Path.of("configuration.toml"));
    }

    static KataConfig rs(String type, String body) {
        return KataConfigLoader.parse("[runtime]\nhypervisor_name = \"" + type + "\"\n[hypervisor." + type + "]\n"
                + body + "\n", Path.of("configuration.toml"));
    }

    /** kata-types config/runtime.rs: runtime-rs picks its table by [runtime] hypervisor_name; Go has no such key. */
    @Test
    void theRuntimeIsRuntimeRsWhenRuntimeNamesTheHypervisor() {
        assertEquals(KataRuntime.GO, go("qemu", "").runtime());
        assertEquals(KataRuntime.RUNTIME_RS, rs("qemu", "").runtime());
        assertEquals(KataRuntime.GO, KataConfigLoader.parse("[runtime]\nenable_debug = true\n[hypervisor.qemu]\n",
                Path.of("c.toml")).runtime());
    }

    /** runtime-rs qemu.rs adjust_config: 0 is DEFAULT_QEMU_MEMORY_SIZE_MB (128); Go's defaultMemSz: 2048. */
    @ParameterizedTest
    @CsvSource({"qemu, , 128", "qemu, 0, 128", "qemu, 64, 64", "clh, 0, 128", "dragonball, 0, 128",
            "firecracker, 0, 128", "remote, 0, 64", "qemu, 4096, 4096"})
    void runtimeRsDefaultsMemoryPerPlugin(String type, String configured, int expected) {
        String body = configured == null ? "" : "default_memory = " + configured;
        assertEquals(expected, rs(type, body).hypervisor().defaultMemoryMib());
    }

    /** runtime-rs qemu.rs / ch.rs / dragonball.rs / firecracker.rs validate: MIN_*_MEMORY_SIZE_MB. */
    @ParameterizedTest
    @CsvSource({"qemu, 63, 64", "clh, 32, 64", "dragonball, 63, 64", "firecracker, 127, 128"})
    void runtimeRsRefusesMemoryBelowThePluginMinimum(String type, int configured, int min) {
        ConfigException e = assertThrows(ConfigException.class, () -> rs(type, "default_memory = " + configured));
        assertEquals(Path.of("configuration.toml"), e.file().orElseThrow());
        assertEquals(4, e.line());
        assertTrue(e.problem().contains("minimal memory limitation " + min), e.getMessage());
    }

    /** Go katautils/config.go hypervisor.defaultMemSz: below vc.MinHypervisorMemory (256) is 2048, with a warning. */
    @Test
    void goUsesItsDefaultBelow256WithAWarning() {
        KataConfig c = go("qemu", "default_memory = 64");
        assertEquals(2048, c.hypervisor().defaultMemoryMib());
        assertEquals(2048, c.toVmSpec("vm").memoryMib());
        assertTrue(c.warnings().get(0).message().contains("the Go runtime (katautils/config.go: defaultMemSz) and"
                + " hvspi use 2048 MiB"), c.warnings().toString());
    }

    /** kata-types hypervisor/mod.rs ConfigOps for Hypervisor::validate: every table, the selected one or not. */
    @Test
    void runtimeRsValidatesEveryHypervisorTable() {
        String toml = """
                [runtime]
                hypervisor_name = "qemu"
                [hypervisor.qemu]
                default_memory = 2048
                [hypervisor.clh]
                default_memory = 32
                """;
        ConfigException e = assertThrows(ConfigException.class, () -> KataConfigLoader.parse(toml, Path.of("c.toml")));
        assertEquals("c.toml:6:18: hypervisor.clh.default_memory: default_memory = 32 is below runtime-rs's minimum"
                + " for clh: CH hypervisor has minimal memory limitation 64 (MiB)", e.getMessage());
    }

    @Test
    void goLooksOnlyAtTheSelectedTable() {
        // the Go runtime takes the only table; a file with two is refused before any rule (no hypervisor_name)
        assertEquals(2048, go("qemu", "default_memory = 2048").hypervisor().defaultMemoryMib());
    }

    /** qemu.rs validate: "Path for QEMU jailer should be empty"; MAX_QEMU_VCPUS 256; enable_guest_swap. */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "jailer_path = \"/usr/bin/jailer\" | jailer should be empty",
            "default_maxvcpus = 257             | supports at most 256 vCPUs",
            "default_bridges = 6                | supports at most 5 PCI bridges",
            "enable_guest_swap = true           | doesn't support enable_guest_swap",
    })
    void runtimeRsQemuRules(String line, String problem) {
        ConfigException e = assertThrows(ConfigException.class, () -> rs("qemu", line));
        assertTrue(e.problem().contains(problem), e.getMessage());
        go("qemu", line); // the Go runtime's reading of the same table has no such rule
    }

    /** Go hypervisor.defaultMaxVCPUs and runtime-rs CpuInfo::adjust_config: 0 or above the host is the host. */
    @ParameterizedTest
    @CsvSource({"0, 4, 4", "2, 4, 2", "4, 4, 4", "9, 4, 4"})
    void maxVcpusFollowKata(int configured, int host, int expected) {
        assertEquals(expected, go("qemu", "default_maxvcpus = " + configured).hypervisor().maxVcpus(host));
    }

    @Test
    void theVmSpecCarriesMaxVcpus() {
        assertEquals(HOST, go("qemu", "").toVmSpec("vm").maxVcpus());
        assertEquals(1, go("qemu", "default_maxvcpus = 1").toVmSpec("vm").maxVcpus());
    }

    /**
     * More boot vCPUs than the maximum: runtime-rs lowers them (CpuInfo::adjust_config); Go passes both to govmm,
     * whose qemu.go refuses "MaxCPUs %d must be equal to or greater than CPUs %d", so hvspi refuses the file.
     */
    @Test
    void vcpusAboveMaxVcpusFollowTheOwningRuntime() {
        org.junit.jupiter.api.Assumptions.assumeTrue(HOST >= 2, "needs a host with 2 CPUs");
        KataConfig rs = rs("qemu", "default_vcpus = 2\ndefault_maxvcpus = 1");
        assertEquals(1, rs.toVmSpec("vm").vcpus());
        assertEquals(1, rs.toVmSpec("vm").maxVcpus());
        assertTrue(rs.warnings().stream().anyMatch(w -> w.message().contains("runtime-rs and hvspi boot 1 vCPUs")),
                rs.warnings().toString());
        ConfigException e = assertThrows(ConfigException.class, () -> go("qemu", "default_vcpus = 2\ndefault_maxvcpus = 1"));
        assertTrue(e.problem().contains("above default_maxvcpus = 1"), e.getMessage());
    }

    /** oci/utils.go regexpContains: a pattern Go's regexp refuses is skipped, the others still enable. */
    @Test
    void goIgnoresAPatternThatDoesNotCompileAndWarns() {
        KataConfig c = go("qemu", "enable_annotations = [\"(?=x)\", \"kernel_params\"]");
        assertEquals("quiet", c.withAnnotations(Map.of(P + "kernel_params", "quiet")).hypervisor().kernelParams());
        ConfigNote w = c.warnings().get(0);
        assertEquals("hypervisor.qemu.enable_annotations", w.key());
        assertTrue(w.message().startsWith("\"(?=x)\" is not a regular expression Go's regexp compiles"), w.message());
        assertTrue(w.message().contains("the Go runtime ignores this pattern"), w.message());
    }

    /** kata-types SecurityInfo::is_annotation_enabled: RegexSet::new fails, so nothing is enabled. */
    @Test
    void runtimeRsEnablesNothingWhenOnePatternDoesNotCompile() {
        KataConfig c = rs("qemu", "enable_annotations = [\"(?=x)\", \"kernel_params\"]");
        ConfigException e = assertThrows(ConfigException.class,
                () -> c.withAnnotations(Map.of(P + "kernel_params", "quiet")));
        assertTrue(e.problem().startsWith("annotation not enabled"), e.getMessage());
        assertTrue(c.warnings().get(0).message().contains("runtime-rs then enables no annotation at all"),
                c.warnings().toString());
    }

    /** What config check lists: per pattern, the annotations it enables (unanchored). */
    @Test
    void eachPatternListsWhatItEnables() {
        KataConfig c = go("qemu", "enable_annotations = [\"kernel\", \"^path$\", \"[\"]");
        Map<String, List<String>> by = AnnotationPolicy.enabledBy(c);
        assertEquals(List.of("kernel", "kernel_hash", "kernel_params", "kernel_verity_params"), by.get("kernel"));
        assertEquals(List.of("path"), by.get("^path$"));
        assertEquals(List.of(), by.get("["));
    }

    /** strconv.ParseUint refuses a sign: oci/utils.go setUintWithCheck for indep_iothreads. */
    @ParameterizedTest
    @CsvSource({"+5", "-0", "0x5", "'5 '", "５", "''"})
    void unsignedAnnotationsRefuseWhatParseUintRefuses(String value) {
        KataConfig c = go("qemu", "enable_annotations = [\".*\"]\nenable_iothreads = true");
        ConfigException e = assertThrows(ConfigException.class,
                () -> c.withAnnotations(Map.of(P + "indep_iothreads", value)));
        assertTrue(e.problem().startsWith("expected an integer from 1 to 50"), e.getMessage());
    }

    /** cc_init_data: base64 of gzip of TOML (addHypervisorInitdataOverrides); hvspi accepts and does not act. */
    @Test
    void initdataIsDecodedAsKataDecodesIt() throws Exception {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (var gz = new java.util.zip.GZIPOutputStream(bytes)) {
            gz.write("algorithm = \"sha384\"\nversion = \"0.1.0\"\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        String good = java.util.Base64.getEncoder().encodeToString(bytes.toByteArray());
        KataConfig c = go("qemu", "enable_annotations = [\"cc_init_data\"]");
        assertEquals(List.of(P + "cc_init_data"),
                AnnotationPolicy.notActedOn(c.withAnnotations(Map.of(P + "cc_init_data", good)).annotations()));
        for (String bad : List.of("not base64!", java.util.Base64.getEncoder().encodeToString("plain".getBytes()))) {
            ConfigException e = assertThrows(ConfigException.class,
                    () -> c.withAnnotations(Map.of(P + "cc_init_data", bad)));
            assertEquals(java.util.Optional.of(P + "cc_init_data"), e.key());
        }
    }

    /**
     * runtime-rs's nvidia and remote templates (src/runtime-rs/config/*.toml.in) set keys its Hypervisor struct
     * has no field for: --strict accepts them, since Kata renders them, and a warning says they have no effect.
     */
    @ParameterizedTest
    @CsvSource({"qemu, use_legacy_serial = false", "qemu, firmware_volume = ''",
            "remote, remote_hypervisor_socket = '/run/peerpod/hypervisor.sock'"})
    void keysKataWritesButRuntimeRsDoesNotReadAreAcceptedWithAWarning(String type, String line) {
        KataConfig c = rs(type, line);
        assertEquals(List.of(), c.unknownKeys());
        assertTrue(c.warnings().stream().anyMatch(w -> w.message().contains("the runtime-rs runtime does not read it")),
                c.warnings().toString());
    }

    @Test
    void keysTheGoRuntimeReadsAreNotFlaggedForGoFiles() {
        KataConfig c = go("qemu", "use_legacy_serial = false\nfirmware_volume = ''");
        assertEquals(List.of(), c.unknownKeys());
        assertEquals(List.of(), c.warnings());
    }
}
