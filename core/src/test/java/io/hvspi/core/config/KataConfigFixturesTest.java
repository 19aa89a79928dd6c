package io.hvspi.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

/** Kata's own rendered configuration files, read unmodified from the shared fixtures. */
class KataConfigFixturesTest {
    static final Path DIR = Path.of(System.getProperty("hvspi.fixtures", "../../shared/fixtures"), "kata-config");

    static Stream<Path> fixtures() throws IOException {
        try (Stream<Path> files = Files.list(DIR)) {
            List<Path> tomls = files.filter(p -> p.toString().endsWith(".toml")).sorted().toList();
            // Kata's rendered set grows (17 files since 2026-12); each one must load
            assertTrue(tomls.size() >= 17, () -> "fixtures in " + DIR + ": " + tomls);
            return tomls.stream();
        }
    }

    @ParameterizedTest(name = "{0} selects [hypervisor.{1}]")
    @CsvSource({
            "configuration-qemu.toml,            qemu,        virtio-scsi,    2048, 1, q35",
            "configuration-qemu-runtime-rs.toml, qemu,        virtio-scsi,    2048, 1, q35",
            "configuration-clh.toml,             clh,         virtio-blk,     2048, 1, ''",
            "configuration-clh-runtime-rs.toml,  clh,         virtio-blk-pci, 2048, 1, ''",
            "configuration-dragonball.toml,      dragonball,  virtio-blk-pci, 2048, 0, ''",
            "configuration-fc.toml,              firecracker, virtio-mmio,    2048, 1, ''",
            "configuration-remote.toml,          remote,      virtio-blk-pci, 2048, 1, ''",
    })
    void everyFixtureLoadsAndSelectsItsHypervisor(String file, String hypervisor, String driver, int memory,
                                                  int bridges, String machineType) {
        KataConfig c = KataConfigLoader.load(DIR.resolve(file));
        assertEquals(hypervisor, c.hypervisorName());
        assertEquals(DIR.resolve(file), c.source());
        HypervisorConfig h = c.hypervisor();
        assertEquals(driver, h.blockDeviceDriver());
        assertEquals(memory, h.defaultMemoryMib());
        assertEquals(bridges, h.defaultBridges());
        assertEquals(machineType, h.machineType());
        assertEquals(1, h.defaultVcpus());
        assertFalse(h.enableIothreads());
        assertEquals(0, h.ioThreads().poolSize());
        assertEquals(IOThreadPolicy.LEAST_LOADED, h.indepIothreadsPolicy());
        assertEquals("auto", h.accel());
        assertEquals(16, h.hotplugSlots());
    }

    /** {@code configuration-qemu-snp.toml} is QEMU's, {@code configuration-clh-azure.toml} Cloud Hypervisor's. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void everyFixtureSelectsTheHypervisorItsNameSays(Path file) {
        String name = file.getFileName().toString();
        String expected = name.substring("configuration-".length()).split("[-.]")[0];
        assertEquals(expected.equals("fc") ? "firecracker" : expected, KataConfigLoader.load(file).hypervisorName());
    }

    /** runtime-rs's templates set [runtime] hypervisor_name (kata-types config/runtime.rs); Go's do not. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void everyFixtureIsOwnedByTheRuntimeItWasRenderedFor(Path file) {
        String name = file.getFileName().toString();
        boolean rs = name.contains("runtime-rs") || name.contains("dragonball");
        assertEquals(rs ? KataRuntime.RUNTIME_RS : KataRuntime.GO, KataConfigLoader.load(file).runtime());
    }

    /**
     * The remote template enables "gpu_model", which Kata matches unanchored, so it enables
     * default_gpu_model; with default_gpus and cc_init_data the pod is accepted, as Kata accepts it.
     */
    @Test
    void remoteFixtureAcceptsTheGpuAndInitdataAnnotationsItEnables() {
        KataConfig c = KataConfigLoader.load(DIR.resolve("configuration-remote.toml"));
        String p = AnnotationPolicy.PREFIX;
        java.util.Map<String, String> pod = java.util.Map.of(p + "default_gpus", "1", p + "default_gpu_model", "h100",
                p + "cc_init_data", "");
        assertEquals(List.of(p + "cc_init_data", p + "default_gpu_model", p + "default_gpus"),
                AnnotationPolicy.notActedOn(c.withAnnotations(pod).annotations()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void fixturesHaveNoUnknownKeysAndNoWarnings(Path file) {
        KataConfig c = KataConfigLoader.load(file);
        assertEquals(List.of(), c.unknownKeys());
        assertEquals(List.of(), c.warnings());
    }

    /** Keys Kata documents but leaves commented out ({@code # default_vcpus = 1}) must be known too. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void commentedOutKeysOfTheHypervisorTableAreKnown(Path file) throws IOException {
        KataConfig c = KataConfigLoader.load(file);
        Pattern header = Pattern.compile("^\\[(.+)]\\s*$");
        // a commented-out setting; "# root_hash=...,salt=..." documents a value's format, not a key
        Pattern commented = Pattern.compile("^#\\s*([a-z0-9_]+)\\s*=(?!\\.\\.\\.)");
        String table = "hypervisor." + c.hypervisorName();
        String section = "";
        List<String> unknown = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            Matcher h = header.matcher(line);
            if (h.matches()) {
                section = h.group(1);
            }
            Matcher m = commented.matcher(line);
            if (section.equals(table) && m.find() && !KnownKeys.forHypervisor(c.runtime()).contains(m.group(1))) {
                unknown.add(m.group(1));
            }
        }
        assertEquals(List.of(), unknown);
    }

    @Test
    void remoteFixtureCommentsOutKeysThatAreStillKnown() {
        // configuration-remote.toml has "# kernel_params = ..." and "# default_vcpus = 1"
        assertTrue(KnownKeys.forHypervisor(KataRuntime.GO).containsAll(List.of("kernel_params", "default_vcpus",
                "default_maxvcpus", "default_memory", "remote_hypervisor_socket")));
    }

    @Test
    void qemuFixtureMapsToAVmSpec() {
        KataConfig c = KataConfigLoader.load(DIR.resolve("configuration-qemu-runtime-rs.toml"));
        VmSpec spec = c.toVmSpec("sandbox-1");
        assertEquals("qemu", spec.hypervisorType());
        assertEquals(Path.of("/usr/bin/qemu-system-x86_64"), spec.binary());
        assertEquals(Optional.of(Path.of("/usr/share/kata-containers/vmlinux.container")), spec.kernel());
        assertEquals(Optional.empty(), spec.initrd());
        assertEquals(Optional.of(Path.of("/usr/share/kata-containers/kata-containers.img")), spec.image());
        assertEquals("cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1", spec.kernelParams());
        assertEquals(1, spec.vcpus());
        assertEquals(2048, spec.memoryMib());
        assertEquals("q35", spec.machineType());
        assertEquals(Files.exists(Path.of("/dev/kvm")) ? "kvm" : "tcg", spec.accel(), "accel auto, resolved for this host");
        assertEquals(new VmSpec.BlockOptions("virtio-scsi", "io_uring", false, false, false), spec.block());
        assertEquals(new VmSpec.IOThreadOptions(false, 0, IOThreadPolicy.LEAST_LOADED), spec.ioThreads());
        assertEquals(16, spec.hotplugSlots());
        assertEquals("virtio-pmem", spec.table().get("vm_rootfs_driver"));
        assertEquals(List.of("--thread-pool-size=1", "-o", "announce_submounts"), spec.table().get("virtio_fs_extra_args"));
        assertEquals(java.util.Map.of("enable_template", false, "template_path", "/run/vc/vm/template"),
                c.hypervisorTable().get("factory"));
    }

    @Test
    void runtimeRsFixturesNameTheirHypervisorInRuntimeHypervisorName() throws IOException {
        // runtime-rs selects by [runtime] hypervisor_name (not "name", which is "virt_container")
        for (String f : List.of("configuration-qemu-runtime-rs.toml", "configuration-clh-runtime-rs.toml",
                "configuration-dragonball.toml")) {
            String text = Files.readString(DIR.resolve(f));
            KataConfig c = KataConfigLoader.parse(text, Path.of(f));
            assertTrue(text.contains("hypervisor_name = \"" + c.hypervisorName() + "\""), f);
        }
    }
}
