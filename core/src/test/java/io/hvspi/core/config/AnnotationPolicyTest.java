package io.hvspi.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.ConfigException;
import io.hvspi.spi.IOThreadPolicy;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class AnnotationPolicyTest {
    static final String P = AnnotationPolicy.PREFIX;
    static final int HOST_CPUS = Runtime.getRuntime().availableProcessors();

    /** A QEMU table whose lists guard each kind of path annotation. */
    static KataConfig qemu(String enableAnnotations, String extra) {
        return KataConfigLoader.parse("""
                [hypervisor.qemu]
                path = "/usr/bin/qemu-system-x86_64"
                kernel_params = "console=ttyS0 quiet"
                enable_iothreads = true
                block_device_driver = "virtio-blk-pci"
                enable_annotations = %s
                valid_hypervisor_paths = ["/usr/bin/qemu-system-*", "/opt/qemu/bin/qemu-*"]
                valid_jailer_paths = []
                valid_ctlpaths = ["/usr/bin/acrnctl"]
                valid_virtio_fs_daemon_paths = ["/usr/libexec/virtiofsd", "/usr/lib/kata/*"]
                valid_vhost_user_store_paths = ["/var/run/kata-containers/vhost-user"]
                valid_entropy_sources = ["/dev/urandom", "/dev/random", ""]
                %s
                """.formatted(enableAnnotations, extra), Path.of("configuration.toml"));
    }

    static KataConfig all() {
        return qemu("[\".*\"]", "");
    }

    static String typed(HypervisorConfig h, String name) {
        Object v = switch (name) {
            case "indep_iothreads" -> h.indepIothreads();
            case "enable_iothreads" -> h.enableIothreads();
            case "default_vcpus" -> h.defaultVcpus();
            case "default_memory" -> h.defaultMemoryMib();
            case "kernel_params" -> h.kernelParams();
            case "path" -> h.path();
            case "kernel" -> h.kernel().map(Path::toString).orElse("");
            case "initrd" -> h.initrd().map(Path::toString).orElse("");
            case "image" -> h.image().map(Path::toString).orElse("");
            case "block_device_driver" -> h.blockDeviceDriver();
            case "block_device_aio" -> h.blockDeviceAio();
            case "block_device_cache_direct" -> h.blockDeviceCacheDirect();
            case "machine_type" -> h.machineType();
            case "indep_iothreads_policy" -> h.indepIothreadsPolicy().key();
            case "accel" -> h.accel();
            case "hotplug_slots" -> h.hotplugSlots();
            case "pcie_root_port" -> h.pcieRootPort();
            case "virtio_fs_daemon" -> h.virtioFsDaemon();
            case "entropy_source" -> h.entropySource();
            case "ctlpath" -> h.ctlpath();
            case "vhost_user_store_path" -> h.vhostUserStorePath();
            default -> throw new IllegalArgumentException(name);
        };
        return String.valueOf(v);
    }

    @ParameterizedTest(name = "{0} = {1}")
    @CsvSource(delimiter = '|', value = {
            "indep_iothreads           | 1                                   | 1",
            "indep_iothreads           | 4                                   | 4",
            "indep_iothreads           | 50                                  | 50",
            "enable_iothreads          | false                               | false",
            "enable_iothreads          | 0                                   | false",
            "enable_iothreads          | T                                   | true",
            "default_vcpus             | 1                                   | 1",
            "default_memory            | 4096                                | 4096",
            "default_memory            | 256                                 | 256",
            "kernel_params             | quiet=0 panic=1                     | console=ttyS0 quiet=0 panic=1",
            "kernel_params             | console=hvc0                        | quiet console=hvc0",
            "path                      | /usr/bin/qemu-system-aarch64        | /usr/bin/qemu-system-aarch64",
            "path                      | /opt/qemu/bin/qemu-kvm              | /opt/qemu/bin/qemu-kvm",
            "kernel                    | /boot/vmlinuz                       | /boot/vmlinuz",
            "initrd                    | /boot/initrd.img                    | /boot/initrd.img",
            "image                     | /img/rootfs.img                     | /img/rootfs.img",
            "block_device_driver       | virtio-blk-ccw                      | virtio-blk-ccw",
            "block_device_aio          | native                              | native",
            "block_device_cache_direct | true                                | true",
            "machine_type              | microvm                             | microvm",
            "indep_iothreads_policy    | first                               | first",
            "accel                     | tcg                                 | tcg",
            "hotplug_slots             | 32                                  | 32",
            "pcie_root_port            | 8                                   | 8",
            "virtio_fs_daemon          | /usr/libexec/virtiofsd              | /usr/libexec/virtiofsd",
            "virtio_fs_daemon          | /usr/lib/kata/virtiofsd             | /usr/lib/kata/virtiofsd",
            "entropy_source            | /dev/random                         | /dev/random",
            "ctlpath                   | /usr/bin/acrnctl                    | /usr/bin/acrnctl",
            "vhost_user_store_path     | /var/run/kata-containers/vhost-user | /var/run/kata-containers/vhost-user",
    })
    void allowedAnnotationReplacesTheTypedValue(String name, String value, String expected) {
        KataConfig c = all().withAnnotations(Map.of(P + name, value));
        assertEquals(expected, typed(c.hypervisor(), name));
        assertEquals(Map.of(P + name, value), c.annotations());
    }

    @ParameterizedTest(name = "{0}: {1} = \"{2}\"")
    @CsvSource(delimiterString = " | ", quoteCharacter = '`', value = {
            // the prefix
            "[\".*\"] | io.katacontainers.config.runtime.foo | x | io.katacontainers.config.runtime.foo: not a hypervisor annotation: expected the prefix io.katacontainers.config.hypervisor.",
            "[\".*\"] | io.katacontainers.config.hypervisorpath | /usr/bin/qemu-system-x86_64 | io.katacontainers.config.hypervisorpath: not a hypervisor annotation: expected the prefix io.katacontainers.config.hypervisor.",
            // enable_annotations, RE2, unanchored: only an anchored or failing pattern leaves a name out
            "[\"enable_iommu\", \"kernel_params\"] | default_memory | 4096 | io.katacontainers.config.hypervisor.default_memory: annotation not enabled: no regular expression of enable_annotations in configuration.toml matches it ([\"enable_iommu\", \"kernel_params\"], RE2, unanchored as Kata matches)",
            "[]                  | kernel_params | quiet | io.katacontainers.config.hypervisor.kernel_params: annotation not enabled: enable_annotations in configuration.toml is empty or absent, so no hypervisor annotation is accepted",
            "[\"path\"]          | jailer_path   | /usr/bin/jailer | io.katacontainers.config.hypervisor.jailer_path: valid_jailer_paths in configuration.toml is empty or absent, so no jailer_path annotation is accepted",
            "[\"^path$\"]        | vhost_user_store_path | /var/run/kata-containers/vhost-user | io.katacontainers.config.hypervisor.vhost_user_store_path: annotation not enabled: no regular expression of enable_annotations in configuration.toml matches it ([\"^path$\"], RE2, unanchored as Kata matches)",
            "[\"^kernel$\"]      | kernel_params | quiet | io.katacontainers.config.hypervisor.kernel_params: annotation not enabled: no regular expression of enable_annotations in configuration.toml matches it ([\"^kernel$\"], RE2, unanchored as Kata matches)",
            "[\"^(path|kernel)$\"] | kernel_params | quiet | io.katacontainers.config.hypervisor.kernel_params: annotation not enabled: no regular expression of enable_annotations in configuration.toml matches it ([\"^(path|kernel)$\"], RE2, unanchored as Kata matches)",
            "[\"(?=indep)indep_iothreads\"] | indep_iothreads | 4 | io.katacontainers.config.hypervisor.indep_iothreads: annotation not enabled: no regular expression of enable_annotations in configuration.toml matches it ([\"(?=indep)indep_iothreads\"], RE2, unanchored as Kata matches)",
            "[\"iothreads$\"]    | indep_iothreads_policy | first | io.katacontainers.config.hypervisor.indep_iothreads_policy: annotation not enabled: no regular expression of enable_annotations in configuration.toml matches it ([\"iothreads$\"], RE2, unanchored as Kata matches)",
            // guarded paths
            "[\".*path\"]        | jailer_path   | /usr/bin/jailer | io.katacontainers.config.hypervisor.jailer_path: valid_jailer_paths in configuration.toml is empty or absent, so no jailer_path annotation is accepted",
            "[\".*\"]            | path          | /tmp/qemu | io.katacontainers.config.hypervisor.path: \"/tmp/qemu\" matches no glob of valid_hypervisor_paths [\"/usr/bin/qemu-system-*\", \"/opt/qemu/bin/qemu-*\"]",
            "[\".*\"]            | path          | /usr/bin/qemu-system-x86_64/x | io.katacontainers.config.hypervisor.path: \"/usr/bin/qemu-system-x86_64/x\" matches no glob of valid_hypervisor_paths [\"/usr/bin/qemu-system-*\", \"/opt/qemu/bin/qemu-*\"]",
            "[\".*\"]            | path          | qemu-system-x86_64 | io.katacontainers.config.hypervisor.path: expected an absolute path, got \"qemu-system-x86_64\"",
            "[\".*\"]            | path          | /usr/bin/qemu-system-x/../../../tmp/evil | io.katacontainers.config.hypervisor.path: a path with a \"..\" component is refused, got \"/usr/bin/qemu-system-x/../../../tmp/evil\"",
            "[\".*\"]            | virtio_fs_daemon | /usr/lib/kata/.. | io.katacontainers.config.hypervisor.virtio_fs_daemon: a path with a \"..\" component is refused, got \"/usr/lib/kata/..\"",
            "[\".*\"]            | entropy_source | ``    | io.katacontainers.config.hypervisor.entropy_source: expected an absolute path, got \"\"",
            "[\".*\"]            | kernel        | ../vmlinuz | io.katacontainers.config.hypervisor.kernel: expected an absolute path, got \"../vmlinuz\"",
            "[\".*\"]            | image         | /img/../etc/shadow | io.katacontainers.config.hypervisor.image: a path with a \"..\" component is refused, got \"/img/../etc/shadow\"",
            // values: type and range
            "[\".*\"]            | indep_iothreads | 0   | io.katacontainers.config.hypervisor.indep_iothreads: expected an integer from 1 to 50, got \"0\"",
            "[\".*\"]            | indep_iothreads | 51  | io.katacontainers.config.hypervisor.indep_iothreads: expected an integer from 1 to 50, got \"51\"",
            "[\".*\"]            | indep_iothreads | -1  | io.katacontainers.config.hypervisor.indep_iothreads: expected an integer from 1 to 50, got \"-1\"",
            "[\".*\"]            | indep_iothreads | 4.0 | io.katacontainers.config.hypervisor.indep_iothreads: expected an integer from 1 to 50, got \"4.0\"",
            "[\".*\"]            | indep_iothreads | four | io.katacontainers.config.hypervisor.indep_iothreads: expected an integer from 1 to 50, got \"four\"",
            "[\".*\"]            | indep_iothreads | 99999999999999999999 | io.katacontainers.config.hypervisor.indep_iothreads: expected an integer from 1 to 50, got \"99999999999999999999\"",
            "[\".*\"]            | indep_iothreads | ``  | io.katacontainers.config.hypervisor.indep_iothreads: expected an integer from 1 to 50, got \"\"",
            "[\".*\"]            | indep_iothreads | +5 | io.katacontainers.config.hypervisor.indep_iothreads: expected an integer from 1 to 50, got \"+5\"",
            "[\".*\"]            | indep_iothreads | 1_0 | io.katacontainers.config.hypervisor.indep_iothreads: expected an integer from 1 to 50, got \"1_0\"",
            "[\".*\"]            | indep_iothreads | ` 4` | io.katacontainers.config.hypervisor.indep_iothreads: expected an integer from 1 to 50, got \" 4\"",
            "[\".*\"]            | default_gpus | +1 | io.katacontainers.config.hypervisor.default_gpus: expected an integer from 0 to 9223372036854775807, got \"+1\"",
            "[\".*\"]            | msize_9p | 0 | io.katacontainers.config.hypervisor.msize_9p: expected an integer from 1 to 9223372036854775807, got \"0\"",
            "[\".*\"]            | blk_logical_sector_size | 1000 | io.katacontainers.config.hypervisor.blk_logical_sector_size: expected 0 or a power of 2 from 512 to 65536, got \"1000\"",
            "[\".*\"]            | blk_physical_sector_size | 256 | io.katacontainers.config.hypervisor.blk_physical_sector_size: expected 0 or a power of 2 from 512 to 65536, got \"256\"",
            "[\".*\"]            | hot_plug_vfio | pcie-port | io.katacontainers.config.hypervisor.hot_plug_vfio: expected one of \"root-port\", \"switch-port\", \"bridge-port\", \"no-port\", got \"pcie-port\"",
            "[\".*\"]            | shared_fs | none | io.katacontainers.config.hypervisor.shared_fs: expected one of \"virtio-9p\", \"virtio-fs\", got \"none\"",
            "[\".*\"]            | virtio_fs_extra_args | --foo | io.katacontainers.config.hypervisor.virtio_fs_extra_args: expected a JSON array of strings, e.g. [\"--thread-pool-size=1\"], got \"--foo\"",
            "[\".*\"]            | enable_hugepages | yes | io.katacontainers.config.hypervisor.enable_hugepages: expected true or false, got \"yes\"",
            "[\".*\"]            | default_max_vcpus | -1 | io.katacontainers.config.hypervisor.default_max_vcpus: expected an integer from 0 to HOST, got \"-1\"",
            "[\".*\"]            | enable_iothreads | yes | io.katacontainers.config.hypervisor.enable_iothreads: expected true or false, got \"yes\"",
            "[\".*\"]            | default_memory | 128  | io.katacontainers.config.hypervisor.default_memory: expected an integer from 256 to 2147483647, got \"128\"",
            "[\".*\"]            | hotplug_slots | 0     | io.katacontainers.config.hypervisor.hotplug_slots: expected an integer from 1 to 64, got \"0\"",
            "[\".*\"]            | block_device_driver | ide | io.katacontainers.config.hypervisor.block_device_driver: expected one of \"virtio-scsi\", \"virtio-blk-pci\", \"virtio-blk-ccw\", \"virtio-blk-mmio\", \"virtio-pmem\", \"nvdimm\", \"virtio-blk\", \"virtio-mmio\", got \"ide\"",
            "[\".*\"]            | indep_iothreads_policy | random | io.katacontainers.config.hypervisor.indep_iothreads_policy: expected one of \"first\", \"round-robin\", \"least-loaded\", got \"random\"",
            "[\".*\"]            | accel         | xen   | io.katacontainers.config.hypervisor.accel: expected one of \"auto\", \"kvm\", \"tcg\", got \"xen\"",
            "[\".*\"]            | machine_type  | ``    | io.katacontainers.config.hypervisor.machine_type: expected a machine type name (a letter or digit, then letters, digits, '.', '_' or '-'), got \"\"",
    })
    void refusedAnnotationIsAnErrorNamingIt(String enable, String name, String value, String message) {
        String key = name.startsWith("io.") ? name : P + name;
        KataConfig c = qemu(enable, "");
        ConfigException e = assertThrows(ConfigException.class, () -> c.withAnnotations(Map.of(key, value)));
        assertEquals(message.replace("HOST", Integer.toString(HOST_CPUS)), e.getMessage());
        assertEquals(Optional.of(key), e.key());
        assertEquals(Optional.empty(), e.file());
    }

    /** oci/utils.go: addHypervisorCPUOverrides, setFloat32WithCheck (strconv.ParseFloat, then at least 0). */
    @ParameterizedTest
    @CsvSource({"-1", "abc", "100000", "1e3", "NaN", "Inf", "0x1p0", "1_0"})
    void vcpusAnnotationMustBeAFloatFromZeroToTheHost(String value) {
        ConfigException e = assertThrows(ConfigException.class,
                () -> all().withAnnotations(Map.of(P + "default_vcpus", value)));
        assertEquals(P + "default_vcpus: expected a number of vCPUs from 0 to this host's " + HOST_CPUS
                + " (a float, as Go's strconv.ParseFloat reads it), got \"" + value + "\"", e.getMessage());
    }

    /** ParseFloat takes a sign and an exponent; 0 is accepted and means the default, 1. */
    @ParameterizedTest
    @CsvSource({"+1, 1", "1e0, 1", "0, 1", "0.0, 1", ".5, 1", "1., 1"})
    void vcpusAnnotationTakesWhatParseFloatTakes(String value, int expected) {
        assertEquals(expected, all().withAnnotations(Map.of(P + "default_vcpus", value)).hypervisor().vcpus(HOST_CPUS));
    }

    @Test
    void fractionalVcpusAnnotationIsRoundedUp() {
        assertEquals(1, all().withAnnotations(Map.of(P + "default_vcpus", "0.5")).hypervisor().defaultVcpus());
    }

    /** Kata knows them (annotations.go, kata-types annotations/mod.rs): accepted when valid, listed as not acted on. */
    @ParameterizedTest
    @CsvSource(delimiterString = " | ", value = {
            "enable_virtio_mem | true",
            "default_gpus | 2",
            "default_gpu_model | tesla",
            "blk_logical_sector_size | 4096",
            "hot_plug_vfio | root-port",
            "virtio_fs_extra_args | [\"--thread-pool-size=1\"]",
            "asset_hash_type | sha512",
            "block_device_num_queues | 4",
    })
    void kataAnnotationsHvspiDoesNotUseAreAcceptedAndListed(String name, String value) {
        KataConfig base = all();
        KataConfig c = base.withAnnotations(Map.of(P + name, value));
        assertEquals(Map.of(P + name, value), c.annotations());
        assertEquals(List.of(P + name), AnnotationPolicy.notActedOn(c.annotations()));
        assertEquals(base.hypervisorTable(), c.hypervisorTable(), "hvspi does not act on it");
    }

    @Test
    void anAnnotationNeitherKataNorHvspiKnowsIsRefused() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> all().withAnnotations(Map.of(P + "enable_teleport", "true")));
        assertEquals(P + "enable_teleport: neither Kata nor hvspi knows this annotation", e.getMessage());
    }

    /** Go's default_max_vcpus annotation sets default_maxvcpus (addHypervisorCPUOverrides). */
    @Test
    void maxVcpusAnnotationSetsDefaultMaxvcpus() {
        KataConfig c = all().withAnnotations(Map.of(P + "default_max_vcpus", "1"));
        assertEquals(1L, c.hypervisorTable().get("default_maxvcpus"));
        assertEquals(1, c.toVmSpec("vm").maxVcpus());
        assertEquals(List.of(), AnnotationPolicy.notActedOn(c.annotations()));
    }

    @Test
    void firstRefusedAnnotationInKeyOrderIsNamed() {
        Map<String, String> annotations = new LinkedHashMap<>();
        annotations.put(P + "path", "/tmp/evil");
        annotations.put(P + "indep_iothreads", "64");
        ConfigException e = assertThrows(ConfigException.class, () -> all().withAnnotations(annotations));
        assertEquals(Optional.of(P + "indep_iothreads"), e.key());
    }

    @Test
    void appliedAnnotationsReachTheRawTableAndTheVmSpec() {
        KataConfig base = all();
        KataConfig c = base.withAnnotations(Map.of(P + "indep_iothreads", "4",
                P + "indep_iothreads_policy", "round-robin"));
        assertEquals(4L, c.hypervisorTable().get("indep_iothreads"));
        assertEquals("round-robin", c.hypervisorTable().get("indep_iothreads_policy"));
        assertEquals(4, c.toVmSpec("vm").ioThreads().poolSize());
        assertEquals(IOThreadPolicy.ROUND_ROBIN, c.toVmSpec("vm").ioThreads().policy());
        assertEquals(List.of(), c.warnings());
        // the original is untouched
        assertEquals(0, base.hypervisor().indepIothreads());
        assertEquals(Map.of(), base.annotations());
        assertNotSame(base, c);
    }

    @Test
    void noAnnotationsReturnsTheSameConfig() {
        KataConfig c = all();
        assertSame(c, c.withAnnotations(Map.of()));
    }

    @Test
    void annotationsAccumulateAcrossCalls() {
        KataConfig c = all().withAnnotations(Map.of(P + "indep_iothreads", "2"))
                .withAnnotations(Map.of(P + "accel", "tcg"));
        assertEquals(Map.of(P + "indep_iothreads", "2", P + "accel", "tcg"), c.annotations());
        assertEquals(2, c.hypervisor().indepIothreads());
        assertEquals("tcg", c.hypervisor().accel());
    }

    @Test
    void warningsAreRecomputedAfterAnnotations() {
        KataConfig on = qemu("[\".*\"]", "indep_iothreads = 4");
        assertEquals(List.of(), on.warnings());
        KataConfig off = on.withAnnotations(Map.of(P + "enable_iothreads", "false"));
        assertEquals(1, off.warnings().size());
        ConfigNote w = off.warnings().get(0);
        assertEquals("hypervisor.qemu.indep_iothreads", w.key());
        assertEquals(13, w.line());

        KataConfig fromAnnotation = KataConfigLoader.parse("""
                [hypervisor.qemu]
                enable_annotations = ["indep_iothreads"]
                block_device_driver = "virtio-blk-pci"
                """, Path.of("c.toml")).withAnnotations(Map.of(P + "indep_iothreads", "3"));
        assertEquals(List.of(new ConfigNote("hypervisor.qemu.indep_iothreads", 0, 0, "indep_iothreads = 3 has no"
                + " effect with enable_iothreads = false: runtime-rs and hvspi create no IOThread pool; the Go runtime"
                + " would still create the 3 IOThreads but never attach a device to them (set by annotation " + P
                + "indep_iothreads)")), fromAnnotation.warnings());
    }

    @Test
    void enablingIoThreadsOnDragonballByAnnotationIsAnError() {
        KataConfig c = KataConfigLoader.parse("[hypervisor.dragonball]\nenable_annotations = [\"enable_iothreads\"]\n",
                Path.of("configuration-dragonball.toml"));
        ConfigException e = assertThrows(ConfigException.class,
                () -> c.withAnnotations(Map.of(P + "enable_iothreads", "true")));
        assertEquals(P + "enable_iothreads: dragonball hypervisor doesn't support IO threads (Dragonball runs one"
                + " blk_iothread_q<i> thread per block queue)", e.getMessage());
    }

    @Test
    void imageAnnotationOverAnInitrdIsRefusedAsInTheFile() {
        KataConfig c = qemu("[\".*\"]", "initrd = \"/boot/initrd.img\"");
        ConfigException e = assertThrows(ConfigException.class,
                () -> c.withAnnotations(Map.of(P + "image", "/img/rootfs.img")));
        assertTrue(e.getMessage().contains("having both an image and an initrd"), e.getMessage());
    }

    @Test
    void kataQemuFixtureAllowsKernelParamsButNotIndepIothreads() {
        KataConfig c = KataConfigLoader.load(KataConfigFixturesTest.DIR.resolve("configuration-qemu.toml"));
        assertEquals("cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 quiet",
                c.withAnnotations(Map.of(P + "kernel_params", "quiet")).hypervisor().kernelParams());
        ConfigException e = assertThrows(ConfigException.class,
                () -> c.withAnnotations(Map.of(P + "indep_iothreads", "4")));
        assertEquals(P + "indep_iothreads: annotation not enabled: no regular expression of enable_annotations in "
                + c.source() + " matches it ([\"enable_iommu\", \"kernel_params\", \"kernel_verity_params\"], RE2,"
                + " unanchored as Kata matches)", e.getMessage());
    }

    @Test
    void remoteHypervisorTakesSmallMemoryAndAnyVcpus() {
        KataConfig c = KataConfigLoader.parse("[hypervisor.remote]\nenable_annotations = [\"default_.*\"]\n",
                Path.of("r.toml")).withAnnotations(Map.of(P + "default_memory", "128", P + "default_vcpus", "100000"));
        assertEquals(128, c.hypervisor().defaultMemoryMib());
        assertEquals(100000, c.hypervisor().defaultVcpus());
    }

    @ParameterizedTest(name = "\"{0}\" + \"{1}\" = \"{2}\"")
    @CsvSource(delimiter = '|', value = {
            "console=ttyS0 quiet  | quiet=0 panic=1      | console=ttyS0 quiet=0 panic=1",
            "console=ttyS0 quiet  | console=hvc0         | quiet console=hvc0",
            "''                   | a=1 b                | a=1 b",
            "a=1 b                | ''                   | a=1 b",
            "a=1  b=2             | '  b=3   c '         | a=1 b=3 c",
    })
    void kernelParamsMergeAsKataMergesThem(String existing, String added, String merged) {
        assertEquals(merged, AnnotationPolicy.mergeKernelParams(existing, added));
    }
}
