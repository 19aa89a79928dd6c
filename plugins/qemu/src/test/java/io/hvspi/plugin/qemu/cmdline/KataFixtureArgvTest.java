package io.hvspi.plugin.qemu.cmdline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.config.KataConfigLoader;
import io.hvspi.plugin.qemu.process.RuntimeLayout;
import io.hvspi.spi.VmSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Kata's own configuration files, through hvspi's loader, to argv: as shipped
 * (virtio-scsi, IOThreads off) and edited to turn IOThreads on and to use
 * virtio-blk. The edits are textual, on the real files, as an operator would make them.
 */
class KataFixtureArgvTest {
    private static final Path FIXTURES = Path.of(System.getProperty("hvspi.fixtures", "../../../shared/fixtures"),
            "kata-config");

    /**
     * @param blockDriver the {@code block_device_driver} to write, or none to keep Kata's virtio-scsi
     * @param expectedIoThreads {@code -object iothread} count: the pool, plus the SCSI controller's
     */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({
        "configuration-qemu.toml,            as-shipped,             ,               false, 0, 0",
        "configuration-qemu.toml,            scsi-iothread,          ,               true,  0, 1",
        "configuration-qemu.toml,            scsi-iothread-and-pool, ,               true,  4, 5",
        "configuration-qemu.toml,            blk-iothreads-off,      virtio-blk,     false, 4, 0",
        "configuration-qemu.toml,            blk-iothreads-on,       virtio-blk,     true,  4, 4",
        "configuration-qemu-runtime-rs.toml, as-shipped,             ,               false, 0, 0",
        "configuration-qemu-runtime-rs.toml, scsi-iothread,          ,               true,  0, 1",
        "configuration-qemu-runtime-rs.toml, blk-iothreads-on,       virtio-blk-pci, true,  4, 4",
    })
    void kataConfigToArgv(String file, String variant, String blockDriver, boolean enable, int indep,
                          int expectedIoThreads) throws IOException {
        String toml = Files.readString(FIXTURES.resolve(file));
        if (blockDriver != null) {
            toml = edit(toml, "block_device_driver = \"virtio-scsi\"", "block_device_driver = \"" + blockDriver + "\"");
        }
        if (enable) {
            toml = edit(toml, "enable_iothreads = false", "enable_iothreads = true");
        }
        if (indep > 0) {
            toml = edit(toml, "indep_iothreads = 0", "indep_iothreads = " + indep);
        }
        // the goldens are a 4-CPU KVM host's argv: accel = "auto" resolves per host (AcceleratorTest checks how),
        // and default_maxvcpus = 0 is the host's CPU count (KataRuntimeRulesTest checks that)
        VmSpec spec = KataConfigLoader.parse(toml, Path.of(file)).toVmSpec("kata").toBuilder().accel("kvm")
                .maxVcpus(4).build();
        QemuCommandLine.Plan plan = QemuCommandLine.build(spec, new RuntimeLayout(Path.of("/run/hvspi/kata")));
        String name = "kata-" + file.replace("configuration-", "").replace(".toml", "") + "-" + variant;
        GoldenArgv.assertMatches(name, plan.argv());

        List<String> objects = plan.argv().stream().filter(a -> a.startsWith("iothread,")).toList();
        assertEquals(expectedIoThreads, objects.size(), objects.toString());
        assertEquals(blockDriver == null, plan.scsiController());
        assertTrue(plan.argv().contains("-kernel"), "Kata's configs name a guest kernel");
    }

    private static String edit(String toml, String from, String to) {
        assertTrue(toml.contains(from), "fixture has '" + from + "'");
        return toml.replace(from, to);
    }
}
