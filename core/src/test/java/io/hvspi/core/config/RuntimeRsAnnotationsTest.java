package io.hvspi.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.ConfigException;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Annotation values in a runtime-rs file, read as kata-types src/annotations/mod.rs reads them. */
class RuntimeRsAnnotationsTest {
    static final String P = AnnotationPolicy.PREFIX;

    static KataConfig rs() {
        return KataRuntimeRulesTest.rs("qemu", "enable_annotations = [\".*\"]\nenable_iothreads = true");
    }

    /** KataAnnotations::get_value: value.trim() then u32::from_str, which takes a '+'. */
    @ParameterizedTest
    @CsvSource({"+5, 5", "' 5 ', 5", "0, 0", "64, 64"})
    void integersAreReadAsRustReadsThem(String value, long expected) {
        assertEquals(expected, rs().withAnnotations(Map.of(P + "indep_iothreads", value)).hypervisorTable()
                .get("indep_iothreads"));
    }

    @ParameterizedTest
    @CsvSource({"-1", "0x5", "4.0", "''"})
    void integersRustRefusesAreRefused(String value) {
        ConfigException e = assertThrows(ConfigException.class,
                () -> rs().withAnnotations(Map.of(P + "indep_iothreads", value)));
        assertEquals(Optional.of(P + "indep_iothreads"), e.key());
    }

    /** convert_to_megabytes: byte_unit sizes; digits alone are MiB; then get_min_memory (QEMU 64). */
    @ParameterizedTest
    @CsvSource({"2048, 2048", "2 GiB, 2048", "2gib, 2048", "512MB, 488", "1073741824 B, 1024", "64, 64",
            "1.5 GiB, 1536"})
    void memoryTakesUnits(String value, int expected) {
        assertEquals(expected, rs().withAnnotations(Map.of(P + "default_memory", value)).hypervisor()
                .defaultMemoryMib());
    }

    @ParameterizedTest
    @CsvSource({"63", "2048r", "2 G", "32 MiB"})
    void memoryBelowTheMinimumOrUnreadableIsRefused(String value) {
        ConfigException e = assertThrows(ConfigException.class,
                () -> rs().withAnnotations(Map.of(P + "default_memory", value)));
        assertTrue(e.problem().startsWith("expected a memory size"), e.getMessage());
    }

    /** f32::from_str, at most get_max_cpus (MAX_QEMU_VCPUS, 256), not the host's count. */
    @ParameterizedTest
    @CsvSource({"+2, 2", "256, 256", "-1, -1"})
    void vcpusUpToThePluginMaximum(String value, long expected) {
        assertEquals(expected, rs().withAnnotations(Map.of(P + "default_vcpus", value)).hypervisorTable()
                .get("default_vcpus"));
    }

    @ParameterizedTest
    @CsvSource({"257", "NaN", "inf", "two"})
    void vcpusAboveThePluginMaximumAreRefused(String value) {
        ConfigException e = assertThrows(ConfigException.class,
                () -> rs().withAnnotations(Map.of(P + "default_vcpus", value)));
        assertTrue(e.problem().startsWith("expected a number of vCPUs up to 256"), e.getMessage());
    }
}
