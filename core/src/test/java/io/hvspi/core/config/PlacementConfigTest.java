package io.hvspi.core.config;

import static io.hvspi.core.config.KataConfigLoaderTest.error;
import static io.hvspi.core.config.KataConfigLoaderTest.table;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.ConfigException;
import io.hvspi.spi.CpuSet;
import io.hvspi.spi.VmSpec;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class PlacementConfigTest {
    private static final String POOL = "enable_iothreads = true\nindep_iothreads = 2\n";

    @Test
    void keysBecomeTheSpecsPlacement() {
        String cpus = PlacementReader.hostCpus().toString();
        VmSpec spec = table("qemu", POOL + "indep_iothreads_cpus = \"" + cpus + "\"\n"
                + "indep_iothreads_cgroup = \"/kata/io\"\nvcpu_threads_cgroup = \"/kata/vcpu\"").toVmSpec("vm1");
        assertEquals(new VmSpec.ThreadPlacement(Optional.of(CpuSet.parse(cpus)), Optional.of("/kata/io"),
                Optional.of("/kata/vcpu")), spec.placement());
        assertTrue(table("qemu", POOL).toVmSpec("vm1").placement().isNone(), "absent keys place nothing");
        assertTrue(table("qemu", POOL + "indep_iothreads_cpus = \"\"").toVmSpec("vm1").placement().isNone(),
                "\"\" is absent, as Kata reads strings");
    }

    @Test
    void aCpuTheHostLacksIsRefusedWithTheKeysLine() {
        int absent = CpuSet.MAX_CPU;
        assertEquals("configuration.toml:4:24: hypervisor.qemu.indep_iothreads_cpus: \"0," + absent + "\" names CPU "
                + absent + " that this host does not have (online: " + PlacementReader.hostCpus() + ")",
                error("[hypervisor.qemu]\n" + POOL + "indep_iothreads_cpus = \"0," + absent + "\"\n"));
    }

    @Test
    void malformedValuesAreOneLineErrors() {
        assertTrue(error("[hypervisor.qemu]\nindep_iothreads_cpus = \"3-1\"\n")
                .startsWith("configuration.toml:2:24: hypervisor.qemu.indep_iothreads_cpus: CPU range"));
        assertEquals("configuration.toml:2:26: hypervisor.qemu.indep_iothreads_cgroup: expected a cgroup path such"
                + " as \"/kata/io\" (absolute, no '.' or '..' parts), got \"/a/../../etc\"",
                error("[hypervisor.qemu]\nindep_iothreads_cgroup = \"/a/../../etc\"\n"));
        assertEquals("configuration.toml:2:23: hypervisor.qemu.vcpu_threads_cgroup: expected a string, got 3",
                error("[hypervisor.qemu]\nvcpu_threads_cgroup = 3\n"));
    }

    @Test
    void keysWithoutEffectAreWarnedAbout() {
        KataConfig noPool = table("qemu", "indep_iothreads_cpus = \"0\"");
        assertTrue(noPool.warnings().stream().anyMatch(n -> n.key().endsWith("indep_iothreads_cpus")
                && n.message().contains("no IOThread pool")), () -> noPool.warnings().toString());
        KataConfig clh = table("clh", "indep_iothreads_cpus = \"0\"\nvcpu_threads_cgroup = \"/v\"");
        assertTrue(clh.warnings().stream().anyMatch(n -> n.message().contains("queue_affinity")),
                () -> clh.warnings().toString());
        assertTrue(clh.warnings().stream().anyMatch(n -> n.key().endsWith("vcpu_threads_cgroup")),
                () -> clh.warnings().toString());
        assertTrue(table("qemu", POOL + "indep_iothreads_cpus = \"0\"").unknownKeys().isEmpty(),
                "hvspi's own keys are known");
    }

    @Test
    void annotationsCannotChooseHostCpus() {
        KataConfig config = table("qemu", POOL + "enable_annotations = [\".*\"]");
        assertThrows(ConfigException.class, () -> config.withAnnotations(Map.of(
                "io.katacontainers.config.hypervisor.indep_iothreads_cpus", "0")));
    }
}
