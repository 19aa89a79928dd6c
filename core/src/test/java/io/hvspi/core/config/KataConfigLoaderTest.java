package io.hvspi.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.ConfigException;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

class KataConfigLoaderTest {
    static final Path FILE = Path.of("configuration.toml");

    static KataConfig parse(String toml) {
        return KataConfigLoader.parse(toml, FILE);
    }

    static KataConfig table(String type, String body) {
        return parse("[hypervisor." + type + "]\n" + body + "\n");
    }

    static String error(String toml) {
        return assertThrows(ConfigException.class, () -> parse(toml)).getMessage();
    }

    // ---- hypervisor selection

    static Stream<Arguments> selectionErrors() {
        return Stream.of(
                Arguments.of("[hypervisor.qemu]\n[hypervisor.clh]\n",
                        "configuration.toml:2:1: hypervisor: several hypervisor tables (clh, qemu) and no [runtime]"
                                + " hypervisor_name to choose one"),
                Arguments.of("[hypervisor.qemu]\n[runtime]\nhypervisor_name = \"clh\"\n",
                        "configuration.toml:3:19: runtime.hypervisor_name: \"clh\" names no [hypervisor.clh] table"
                                + " (tables in the file: qemu)"),
                Arguments.of("[runtime]\nhypervisor_name = \"qemu\"\n",
                        "configuration.toml:2:19: runtime.hypervisor_name: \"qemu\" names no [hypervisor.qemu] table"
                                + " (the file has no [hypervisor.NAME] table)"),
                Arguments.of("[runtime]\nhypervisor_name = 3\n[hypervisor.qemu]\n",
                        "configuration.toml:2:19: runtime.hypervisor_name: expected a string naming a"
                                + " [hypervisor.NAME] table, got 3"),
                Arguments.of("[runtime]\nenable_debug = true\n",
                        "configuration.toml: no [hypervisor.NAME] table: expected one, e.g. [hypervisor.qemu]"),
                Arguments.of("[hypervisor]\n",
                        "configuration.toml:1:1: hypervisor: no [hypervisor.NAME] table: expected one, e.g."
                                + " [hypervisor.qemu]"),
                Arguments.of("hypervisor = 3\n",
                        "configuration.toml:1:14: hypervisor: expected [hypervisor.NAME] tables, got 3"),
                Arguments.of("[hypervisor]\nqemu = \"yes\"\n",
                        "configuration.toml:2:8: hypervisor.qemu: expected a [hypervisor.qemu] table, got \"yes\""));
    }

    @ParameterizedTest
    @MethodSource("selectionErrors")
    void selectionErrorSaysWhyAndWhere(String toml, String message) {
        assertEquals(message, error(toml));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "[hypervisor.qemu]\\n                                                   | qemu",
            "[hypervisor.qemu]\\n[hypervisor.clh]\\n[runtime]\\nhypervisor_name = 'clh'\\n | clh",
            "[runtime]\\nhypervisor_name = 'qemu'\\n[hypervisor.qemu]\\n[hypervisor.dragonball]\\n | qemu",
            "hypervisor.acme.path = '/opt/acme/vmm'\\n                          | acme",
    })
    void selectsTheNamedOrTheOnlyTable(String toml, String expected) {
        assertEquals(expected, parse(toml.replace("\\n", "\n")).hypervisorName());
    }

    // ---- types, ranges and positions

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
            "indep_iothreads = -1                 | 2:19: hypervisor.qemu.indep_iothreads: expected an integer from 0 to 1024, got -1",
            "indep_iothreads = 1025               | 2:19: hypervisor.qemu.indep_iothreads: expected an integer from 0 to 1024, got 1025",
            "indep_iothreads = \"4\"              | 2:19: hypervisor.qemu.indep_iothreads: expected an integer from 0 to 1024, got \"4\"",
            "indep_iothreads = 4.0                | 2:19: hypervisor.qemu.indep_iothreads: expected an integer from 0 to 1024, got 4.0",
            "`  indep_iothreads   =   -1`         | 2:25: hypervisor.qemu.indep_iothreads: expected an integer from 0 to 1024, got -1",
            "\"indep_iothreads\" = -1             | 2:21: hypervisor.qemu.indep_iothreads: expected an integer from 0 to 1024, got -1",
            "enable_iothreads = \"yes\"           | 2:20: hypervisor.qemu.enable_iothreads: expected true or false, got \"yes\"",
            "default_memory = -5                  | 2:18: hypervisor.qemu.default_memory: expected an integer from 0 to 4294967295, got -5",
            "default_vcpus = \"two\"              | 2:17: hypervisor.qemu.default_vcpus: expected a number of vCPUs (negative: all the host's CPUs), got \"two\"",
            "default_bridges = true               | 2:19: hypervisor.qemu.default_bridges: expected an integer from 0 to 2147483647, got true",
            "block_device_driver = \"virtio-foo\" | 2:23: hypervisor.qemu.block_device_driver: expected one of \"virtio-scsi\", \"virtio-blk-pci\", \"virtio-blk-ccw\", \"virtio-blk-mmio\", \"virtio-pmem\", \"nvdimm\", \"virtio-blk\", \"virtio-mmio\", got \"virtio-foo\"",
            "block_device_aio = \"posix\"         | 2:20: hypervisor.qemu.block_device_aio: expected one of \"io_uring\", \"native\", \"threads\", got \"posix\"",
            "block_device_cache_set = 1           | 2:26: hypervisor.qemu.block_device_cache_set: expected true or false, got 1",
            "indep_iothreads_policy = \"random\"  | 2:26: hypervisor.qemu.indep_iothreads_policy: expected one of \"first\", \"round-robin\", \"least-loaded\", got \"random\"",
            "indep_iothreads_policy = \"\"        | 2:26: hypervisor.qemu.indep_iothreads_policy: expected one of \"first\", \"round-robin\", \"least-loaded\", got \"\"",
            "accel = \"xen\"                      | 2:9: hypervisor.qemu.accel: expected one of \"auto\", \"kvm\", \"tcg\", got \"xen\"",
            "hotplug_slots = 0                    | 2:17: hypervisor.qemu.hotplug_slots: expected an integer from 1 to 64, got 0",
            "hotplug_slots = 65                   | 2:17: hypervisor.qemu.hotplug_slots: expected an integer from 1 to 64, got 65",
            "pcie_root_port = 65                  | 2:18: hypervisor.qemu.pcie_root_port: expected an integer from 0 to 64, got 65",
            "shared_fs = \"nfs\"                  | 2:13: hypervisor.qemu.shared_fs: expected one of \"virtio-fs\", \"virtio-fs-nydus\", \"inline-virtio-fs\", \"virtio-9p\", \"none\", got \"nfs\"",
            "kernel = 3                           | 2:10: hypervisor.qemu.kernel: expected a string, got 3",
            "path = [\"/usr/bin/qemu\"]           | 2:8: hypervisor.qemu.path: expected a string, got an array",
            "enable_annotations = \"kernel\"      | 2:22: hypervisor.qemu.enable_annotations: expected an array of strings, got \"kernel\"",
            "enable_annotations = [\"a\", 1]      | 2:22: hypervisor.qemu.enable_annotations: expected an array of strings, got an array",
            "valid_hypervisor_paths = [\"/usr/[q\"] | 2:26: hypervisor.qemu.valid_hypervisor_paths: \"/usr/[q\" is not a valid glob: '[' at offset 5 is not closed",
            "valid_entropy_sources = {a = 1}      | 2:25: hypervisor.qemu.valid_entropy_sources: expected an array of strings, got a table",
    })
    void wrongTypeOrRangeNamesKeyValueAndPosition(String line, String expected) {
        assertEquals("configuration.toml:" + expected, error("[hypervisor.qemu]\n" + line + "\n"));
    }

    @Test
    void errorInAKataFileCarriesItsRealLineAndColumn() throws IOException {
        Path file = KataConfigFixturesTest.DIR.resolve("configuration-qemu.toml");
        List<String> lines = Files.readAllLines(file);
        int line = lines.indexOf("indep_iothreads = 0") + 1;
        String broken = Files.readString(file).replace("\nindep_iothreads = 0\n", "\nindep_iothreads = -1\n");
        ConfigException e = assertThrows(ConfigException.class,
                () -> KataConfigLoader.parse(broken, Path.of("configuration.toml")));
        assertEquals("configuration.toml:" + line + ":19: hypervisor.qemu.indep_iothreads: expected an integer"
                + " from 0 to 1024, got -1", e.getMessage());
        assertEquals(line, e.line());
        assertEquals(19, e.column());
        assertEquals(Optional.of("hypervisor.qemu.indep_iothreads"), e.key());
        assertEquals(Optional.of(Path.of("configuration.toml")), e.file());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "[hypervisor.qemu]\\npath = = 3\\n                 | configuration.toml:2:8: malformed TOML: Unexpected '=', expected",
            "[hypervisor.qemu]\\npath = 'a'\\npath = 'b'\\n   | configuration.toml:3:1: malformed TOML: path previously defined at line 2, column 1",
            "[hypervisor.qemu\\n                               | configuration.toml:1:17: malformed TOML: ",
            "[hypervisor.qemu]\\nkernel = \"/boot/vmlinuz\\n   | configuration.toml:2:",
            "[hypervisor.qemu]\\nindep_iothreads = 99999999999999999999\\n | configuration.toml:2:19: malformed TOML: Integer is too large",
    })
    void malformedTomlGivesFileLineColumnAndTomljsMessage(String toml, String prefix) {
        String message = error(toml.replace("\\n", "\n"));
        assertTrue(message.startsWith(prefix), message);
    }

    @Test
    void unreadableFileIsAConfigErrorNamingIt(@TempDir Path dir) {
        Path missing = dir.resolve("nope.toml");
        assertEquals(missing + ": cannot read the file: no such file",
                assertThrows(ConfigException.class, () -> KataConfigLoader.load(missing)).getMessage());
        assertEquals(dir + ": cannot read the file: Is a directory",
                assertThrows(ConfigException.class, () -> KataConfigLoader.load(dir)).getMessage());
    }

    /** A path to a device or a huge file is refused after a bounded read, not read until the heap runs out. */
    @Test
    void aFileFarLargerThanAnyConfigurationIsRefused(@TempDir Path dir) throws IOException {
        assertEquals("/dev/zero: larger than 16 MiB, so not a configuration file (Kata's are tens of KB)",
                assertThrows(ConfigException.class, () -> KataConfigLoader.load(Path.of("/dev/zero"))).getMessage());
        Path big = dir.resolve("big.toml");
        String table = "[hypervisor.qemu]\nindep_iothreads = 2\n#";
        byte[] comment = new byte[KataConfigLoader.MAX_BYTES - table.length()]; // exactly the cap: still read
        java.util.Arrays.fill(comment, (byte) 'x');
        try (var out = Files.newOutputStream(big)) {
            out.write(table.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            out.write(comment);
        }
        assertEquals(2, KataConfigLoader.load(big).hypervisor().indepIothreads());
        Files.write(big, new byte[] {'\n'}, java.nio.file.StandardOpenOption.APPEND);
        assertTrue(assertThrows(ConfigException.class, () -> KataConfigLoader.load(big)).getMessage()
                .startsWith(big + ": larger than 16 MiB"));
    }

    /** A pipe, as {@code hvctl config check <(...)} gives, is read to its end. */
    @Test
    void aPipeIsReadToItsEnd(@TempDir Path dir) throws Exception {
        Path fifo = dir.resolve("config.fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        Thread writer = Thread.ofPlatform().start(() -> {
            try {
                Files.writeString(fifo, "[hypervisor.qemu]\nindep_iothreads = 3\n");
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        assertEquals(3, KataConfigLoader.load(fifo).hypervisor().indepIothreads());
        writer.join();
    }

    @Test
    void imageAndInitrdTogetherAreRefusedAsKataDoes() {
        assertEquals("configuration.toml:3:10: hypervisor.qemu.initrd: having both an image and an initrd is not"
                + " supported (Kata refuses it too)", error("[hypervisor.qemu]\nimage = '/i.img'\ninitrd = '/i.cpio'\n"));
    }

    // ---- defaults

    @Test
    void emptyQemuTableGetsKataDefaults() {
        HypervisorConfig h = table("qemu", "").hypervisor();
        assertEquals("", h.path());
        assertEquals(Optional.empty(), h.kernel());
        assertEquals("", h.kernelParams());
        assertEquals("q35", h.machineType());
        assertEquals(1, h.defaultVcpus());
        assertEquals(2048, h.defaultMemoryMib());
        assertEquals(1, h.defaultBridges());
        assertEquals("virtio-scsi", h.blockDeviceDriver());
        assertEquals("io_uring", h.blockDeviceAio());
        assertEquals(false, h.disableBlockDeviceUse());
        assertEquals(false, h.blockDeviceCacheSet() || h.blockDeviceCacheDirect() || h.blockDeviceCacheNoflush());
        assertEquals(false, h.enableIothreads());
        assertEquals(0, h.indepIothreads());
        assertEquals(IOThreadPolicy.LEAST_LOADED, h.indepIothreadsPolicy());
        assertEquals(0, h.pcieRootPort());
        assertEquals("virtio-fs", h.sharedFs());
        assertEquals("/dev/urandom", h.entropySource());
        assertEquals(List.of(), h.enableAnnotations());
        assertEquals(List.of(), h.validPaths("valid_hypervisor_paths"));
        assertEquals(6, h.validPaths().size());
        assertEquals("auto", h.accel());
        assertEquals(16, h.hotplugSlots());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "qemu        | q35 | virtio-scsi    | 1",
            "clh         | ''  | virtio-blk-pci | 1",
            "dragonball  | ''  | virtio-blk-pci | 0",
            "firecracker | ''  | virtio-mmio    | 1",
            "acme        | ''  | virtio-blk-pci | 1",
    })
    void defaultsDependOnTheHypervisorType(String type, String machine, String driver, int bridges) {
        HypervisorConfig h = table(type, "").hypervisor();
        assertEquals(machine, h.machineType());
        assertEquals(driver, h.blockDeviceDriver());
        assertEquals(bridges, h.defaultBridges());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "machine_type = ''          | q35",
            "block_device_driver = ''   | virtio-scsi",
            "block_device_aio = ''      | io_uring",
            "shared_fs = ''             | virtio-fs",
    })
    void emptyStringMeansKatasDefault(String line, String expected) {
        HypervisorConfig h = table("qemu", line).hypervisor();
        assertEquals(expected, switch (line.substring(0, line.indexOf(' '))) {
            case "machine_type" -> h.machineType();
            case "block_device_driver" -> h.blockDeviceDriver();
            case "block_device_aio" -> h.blockDeviceAio();
            default -> h.sharedFs();
        });
    }

    /** Kata: unspecified or 0 is 1, negative is every host CPU, more than the host has is the host's count. */
    @ParameterizedTest(name = "default_vcpus = {0} on {1} CPUs gives {2}")
    @CsvSource(delimiter = '|', value = {
            "''   | 4 | 1",
            "0    | 4 | 1",
            "2    | 4 | 2",
            "4    | 4 | 4",
            "8    | 4 | 4",
            "-1   | 4 | 4",
            "-0.5 | 4 | 4",
            "1.5  | 4 | 2",
            "0.2  | 4 | 1",
    })
    void vcpusFollowKata(String configured, int hostCpus, int expected) {
        HypervisorConfig h = table("qemu", configured.isEmpty() ? "" : "default_vcpus = " + configured).hypervisor();
        assertEquals(expected, h.vcpus(hostCpus));
    }

    @ParameterizedTest
    /** Go: katautils/config.go hypervisor.defaultMemSz, below vc.MinHypervisorMemory (256) is defaultMemSize (2048). */
    @CsvSource({"0, 2048", "256, 256", "255, 2048", "128, 2048", "4096, 4096"})
    void memoryZeroMeansTheDefault(int configured, int expected) {
        assertEquals(expected, table("qemu", "default_memory = " + configured).hypervisor().defaultMemoryMib());
    }

    @ParameterizedTest
    @CsvSource({"0, 1", "1, 1", "5, 5", "9, 5"})
    void bridgesAreOneToFiveAsInGo(int configured, int expected) {
        assertEquals(expected, table("qemu", "default_bridges = " + configured).hypervisor().defaultBridges());
    }

    // ---- warnings and errors across keys

    static Stream<Arguments> warnings() {
        return Stream.of(
                Arguments.of("qemu", "enable_iothreads = false\nindep_iothreads = 4", "hypervisor.qemu.indep_iothreads",
                        3, 19, "indep_iothreads = 4 has no effect with enable_iothreads = false: runtime-rs and hvspi"
                                + " create no IOThread pool; the Go runtime would still create the 4 IOThreads but"
                                + " never attach a device to them"),
                Arguments.of("qemu", "indep_iothreads = 2", "hypervisor.qemu.indep_iothreads", 2, 19,
                        "indep_iothreads = 2 has no effect with enable_iothreads = false"),
                Arguments.of("qemu", "enable_iothreads = true\nindep_iothreads = 4\nblock_device_driver = 'virtio-scsi'",
                        "hypervisor.qemu.indep_iothreads", 3, 19, "indep_iothreads = 4 with block_device_driver ="
                                + " \"virtio-scsi\": runtime-rs creates no pool unless the driver is virtio-blk-pci"),
                Arguments.of("qemu", "enable_iothreads = true\nindep_iothreads = 4", "hypervisor.qemu.indep_iothreads",
                        3, 19, "runtime-rs creates no pool unless the driver is virtio-blk-pci"),
                Arguments.of("qemu", "indep_iothreads_policy = 'first'", "hypervisor.qemu.indep_iothreads_policy", 2, 26,
                        "indep_iothreads_policy has no effect: there is no IOThread pool"),
                Arguments.of("clh", "enable_iothreads = true", "hypervisor.clh.enable_iothreads", 2, 20,
                        "Cloud Hypervisor has no IOThreads: Kata ignores enable_iothreads for [hypervisor.clh];"
                                + " Cloud Hypervisor runs one thread per disk queue (<disk id>_q<i>)"),
                Arguments.of("clh", "indep_iothreads = 2", "hypervisor.clh.indep_iothreads", 2, 19,
                        "Cloud Hypervisor has no IOThreads: Kata ignores indep_iothreads"),
                Arguments.of("clh", "indep_iothreads_policy = 'first'", "hypervisor.clh.indep_iothreads_policy", 2, 26,
                        "Cloud Hypervisor has no IOThreads: Kata ignores indep_iothreads_policy"),
                Arguments.of("dragonball", "indep_iothreads = 2", "hypervisor.dragonball.indep_iothreads", 2, 19,
                        "Dragonball has no IOThreads: indep_iothreads has no effect"),
                Arguments.of("firecracker", "enable_iothreads = true", "hypervisor.firecracker.enable_iothreads", 2, 20,
                        "firecracker has no IOThreads: enable_iothreads has no effect"),
                Arguments.of("qemu", "default_bridges = 9", "hypervisor.qemu.default_bridges", 2, 19,
                        "default_bridges = 9: Kata uses at most 5 PCI bridges, so 5"),
                Arguments.of("qemu", "default_memory = 128", "hypervisor.qemu.default_memory", 2, 18,
                        "default_memory = 128 is below the Go runtime's minimum of 256 MiB: the Go runtime"
                                + " (katautils/config.go: defaultMemSz) and hvspi use 2048 MiB instead"));
    }

    @ParameterizedTest(name = "[{0}] {1}")
    @MethodSource("warnings")
    void keysWithoutEffectAreWarningsWithPositions(String type, String body, String key, int line, int column,
                                                   String message) {
        KataConfig c = table(type, body);
        assertEquals(1, c.warnings().size(), () -> "warnings: " + c.warnings());
        ConfigNote w = c.warnings().get(0);
        assertEquals(key, w.key());
        assertEquals(line, w.line());
        assertEquals(column, w.column());
        assertTrue(w.message().contains(message), w.message());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "enable_iothreads = true\\nindep_iothreads = 4\\nblock_device_driver = 'virtio-blk-pci' | 4",
            "enable_iothreads = true\\nindep_iothreads = 4\\nblock_device_driver = 'virtio-blk'     | 4",
            "enable_iothreads = true\\nindep_iothreads_policy = 'round-robin'\\nindep_iothreads = 1\\nblock_device_driver = 'virtio-blk-pci' | 1",
            "enable_iothreads = true                                                              | 0",
    })
    void poolThatTakesEffectGivesNoWarning(String body, int pool) {
        KataConfig c = table("qemu", body.replace("\\n", "\n"));
        assertEquals(List.of(), c.warnings());
        assertEquals(pool, c.hypervisor().ioThreads().poolSize());
    }

    @Test
    void warningFormatsLikeACompilerLine() {
        ConfigNote w = table("qemu", "default_bridges = 9").warnings().get(0);
        assertEquals("configuration.toml:2:19: hypervisor.qemu.default_bridges: default_bridges = 9: Kata uses at"
                + " most 5 PCI bridges, so 5", w.format(FILE));
    }

    @Test
    void dragonballWithIoThreadsIsAnErrorAsInKata() {
        assertEquals("configuration.toml:2:20: hypervisor.dragonball.enable_iothreads: dragonball hypervisor doesn't"
                        + " support IO threads (Dragonball runs one blk_iothread_q<i> thread per block queue)",
                error("[hypervisor.dragonball]\nenable_iothreads = true\n"));
    }

    @Test
    void dragonballFixtureWithIoThreadsIsAnError() throws IOException {
        String text = Files.readString(KataConfigFixturesTest.DIR.resolve("configuration-dragonball.toml"))
                .replace("[hypervisor.dragonball]\n", "[hypervisor.dragonball]\nenable_iothreads = true\n");
        ConfigException e = assertThrows(ConfigException.class,
                () -> KataConfigLoader.parse(text, Path.of("configuration-dragonball.toml")));
        assertEquals(15, e.line());
        assertTrue(e.getMessage().contains("dragonball hypervisor doesn't support IO threads"), e.getMessage());
    }

    // ---- unknown keys

    @ParameterizedTest(name = "[{0}] {1}")
    @CsvSource(delimiter = '|', value = {
            "qemu | indep_iothread = 4          | hypervisor.qemu.indep_iothread      | 18 | unknown key: neither Kata's go runtime nor hvspi reads it in [hypervisor.qemu]; did you mean indep_iothreads?",
            "qemu | indep_iothread_policy = 'x' | hypervisor.qemu.indep_iothread_policy | 25 | unknown key: neither Kata's go runtime nor hvspi reads it in [hypervisor.qemu]; did you mean indep_iothreads_policy?",
            "qemu | hotplug_slot = 4            | hypervisor.qemu.hotplug_slot        | 16 | unknown key: neither Kata's go runtime nor hvspi reads it in [hypervisor.qemu]; did you mean hotplug_slots?",
            "qemu | rootless_user = 1           | hypervisor.qemu.rootless_user       | 17 | unknown key: neither Kata's go runtime nor hvspi reads it in [hypervisor.qemu]",
            "clh  | machine_accelerator = 'x'   | hypervisor.clh.machine_accelerator  | 23 | unknown key: neither Kata's go runtime nor hvspi reads it in [hypervisor.clh]; did you mean machine_accelerators?",
            "acme | frobnicate = true           | hypervisor.acme.frobnicate          | 14 | unknown key: neither Kata's go runtime nor hvspi reads it in [hypervisor.acme]",
    })
    void unknownKeysAreReportedWithPositionAndKept(String type, String line, String key, int column, String message) {
        KataConfig c = table(type, line);
        assertEquals(List.of(new ConfigNote(key, 2, column, message)), c.unknownKeys());
        assertTrue(c.hypervisorTable().containsKey(key.substring(key.lastIndexOf('.') + 1)));
    }

    @ParameterizedTest
    @CsvSource({"clh, hypervisor_loglevel = 1", "qemu, pcie_switch_port = 0", "acme, hypervisor_loglevel = 1",
            "dragonball, accel = 'tcg'", "qemu, hypervisor_loglevel = 1", "qemu, guest_extension_images = []",
            "clh, disk_rate_limiter_bw_max_rate = 0", "qemu, disable_seccomp = true"})
    void keysKataOrHvspiReadForTheTypeAreNotUnknown(String type, String line) {
        assertEquals(List.of(), table(type, line).unknownKeys());
    }

    // ---- the raw table and the VmSpec

    @Test
    void rawTableHoldsPlainJavaValuesInFileOrder() {
        KataConfig c = table("qemu", """
                path = "/usr/bin/qemu-system-x86_64"
                qemu_extra = { a = 1, b = [true, 2.5, "x"] }
                since = 2026-08-01
                indep_iothreads = 3
                """);
        assertEquals(List.of("path", "qemu_extra", "since", "indep_iothreads"), List.copyOf(c.hypervisorTable().keySet()));
        assertEquals(Map.of("a", 1L, "b", List.of(true, 2.5, "x")), c.hypervisorTable().get("qemu_extra"));
        assertEquals("2026-08-01", c.hypervisorTable().get("since"));
        assertEquals(3L, c.hypervisorTable().get("indep_iothreads"));
    }

    @Test
    void vmSpecCarriesHvspisKeysAndQemuDeviceNames() {
        KataConfig c = table("qemu", """
                path = "/usr/bin/qemu-system-x86_64"
                kernel = "/k/vmlinuz"
                initrd = "/k/initrd.img"
                kernel_params = "console=ttyS0"
                default_memory = 512
                machine_type = "q35"
                block_device_driver = "virtio-blk"
                block_device_aio = "threads"
                block_device_cache_set = true
                block_device_cache_direct = true
                enable_iothreads = true
                indep_iothreads = 4
                indep_iothreads_policy = "round-robin"
                accel = "tcg"
                hotplug_slots = 8
                """);
        VmSpec spec = c.toVmSpec("vm-1");
        assertEquals("vm-1", spec.vmId());
        assertEquals(Path.of("/usr/bin/qemu-system-x86_64"), spec.binary());
        assertEquals(Optional.of(Path.of("/k/vmlinuz")), spec.kernel());
        assertEquals(Optional.of(Path.of("/k/initrd.img")), spec.initrd());
        assertEquals(Optional.empty(), spec.image());
        assertEquals("console=ttyS0", spec.kernelParams());
        assertEquals(c.hypervisor().vcpus(Runtime.getRuntime().availableProcessors()), spec.vcpus());
        assertEquals(512, spec.memoryMib());
        assertEquals("tcg", spec.accel());
        assertEquals(new VmSpec.BlockOptions("virtio-blk-pci", "threads", true, true, false), spec.block());
        assertEquals(new VmSpec.IOThreadOptions(true, 4, IOThreadPolicy.ROUND_ROBIN), spec.ioThreads());
        assertEquals(4, spec.ioThreads().poolSize());
        assertEquals(8, spec.hotplugSlots());
        assertEquals("virtio-blk", spec.table().get("block_device_driver"));
    }

    @ParameterizedTest(name = "enable_iothreads = {0}, indep_iothreads = {1}: pool of {2}")
    @CsvSource({"false, 0, 0", "false, 4, 0", "true, 0, 0", "true, 4, 4", "true, 1024, 1024"})
    void poolExistsOnlyWithEnableIothreadsAndIndepIothreads(boolean enable, int indep, int pool) {
        KataConfig c = table("qemu", "enable_iothreads = " + enable + "\nindep_iothreads = " + indep
                + "\nblock_device_driver = 'virtio-blk-pci'");
        assertEquals(pool, c.toVmSpec("vm").ioThreads().poolSize());
    }

    /** Kata's VFIO root ports and hvspi's hotplug ports are one pool of pcie-root-port devices: the larger count wins. */
    @ParameterizedTest(name = "hotplug_slots = {0}, pcie_root_port = {1}: {2} root ports")
    @CsvSource({"'', '', 16", "8, '', 8", "8, 12, 12", "'', 20, 20", "64, 64, 64", "1, 0, 1", "'', 0, 16"})
    void hotplugSlotsAreTheLargerOfHotplugSlotsAndPcieRootPort(String slots, String rootPorts, int expected) {
        String body = (slots.isEmpty() ? "" : "hotplug_slots = " + slots + "\n")
                + (rootPorts.isEmpty() ? "" : "pcie_root_port = " + rootPorts + "\n");
        assertEquals(expected, table("qemu", body).toVmSpec("vm").hotplugSlots());
    }

    @ParameterizedTest
    @CsvSource({"virtio-blk, virtio-blk-pci", "virtio-mmio, virtio-blk-mmio", "virtio-scsi, virtio-scsi",
            "virtio-blk-ccw, virtio-blk-ccw", "nvdimm, nvdimm"})
    void vmSpecUsesQemuDeviceNamesForGoDriverNames(String configured, String device) {
        KataConfig c = table("qemu", "block_device_driver = '" + configured + "'");
        assertEquals(configured, c.hypervisor().blockDeviceDriver());
        assertEquals(device, c.toVmSpec("vm").block().driver());
    }

    @ParameterizedTest
    @CsvSource({"''", "1abc", "a/b", "x y"})
    void vmSpecRefusesAnInvalidVmId(String vmId) {
        assertThrows(RequestRejectedException.class, () -> table("qemu", "").toVmSpec(vmId));
    }
}
