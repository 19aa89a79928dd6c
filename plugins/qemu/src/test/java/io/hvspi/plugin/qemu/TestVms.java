package io.hvspi.plugin.qemu;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.qemu.qmp.QemuVersion;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmSpec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** VM specs and host contexts for tests, built by hand (no Kata config loader involved). */
public final class TestVms {
    /** Debian's QEMU: 7.2 on Debian 12, 10.0 on Debian 13. */
    public static final Path QEMU = Path.of("/usr/bin/qemu-system-x86_64");
    private static final Pattern VERSION = Pattern.compile("QEMU emulator version (\\d+)\\.(\\d+)\\.(\\d+)");
    private static QemuVersion installed;

    private TestVms() {}

    /**
     * A guestless q35 VM under TCG: starts paused ({@code -S}, no kernel), in about 20 ms.
     *
     * @param pool the independent IOThreads ({@code indep_iothreads} with {@code enable_iothreads = true});
     *             0 turns IOThreads off
     */
    public static VmSpec spec(String vmId, int pool, IOThreadPolicy policy) {
        return spec(vmId, pool, policy, "virtio-blk-pci", 8);
    }

    public static VmSpec spec(String vmId, int pool, IOThreadPolicy policy, String blockDriver, int rootPorts) {
        return VmSpec.builder().vmId(vmId).hypervisorType("qemu").binary(QEMU).vcpus(2).memoryMib(128)
                .machineType("q35").accel("tcg")
                .block(new VmSpec.BlockOptions(blockDriver, "io_uring", false, false, false))
                .ioThreads(new VmSpec.IOThreadOptions(pool > 0, pool, policy)).hotplugSlots(rootPorts).build();
    }

    /**
     * The installed QEMU's version, from {@code --version} (not from hvspi's probe, which
     * the tests check against it). Tests whose outcome depends on the version branch on it.
     */
    public static synchronized QemuVersion installedQemu() {
        if (installed == null) {
            try {
                Process p = new ProcessBuilder(QEMU.toString(), "--version").redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                p.waitFor();
                Matcher m = VERSION.matcher(out);
                if (!m.find()) {
                    throw new IllegalStateException(QEMU + " --version printed no version: " + out);
                }
                installed = new QemuVersion(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)),
                        Integer.parseInt(m.group(3)));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
        return installed;
    }

    /** A host context rooted in a test's temporary directory. */
    public static DefaultHostContext host(Path root) {
        return new DefaultHostContext(root.resolve("run"), Duration.ofSeconds(10), Map.of());
    }
}
