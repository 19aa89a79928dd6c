package io.hvspi.plugin.qemu;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.qemu.process.RuntimeLayout;
import io.hvspi.plugin.qemu.qmp.QemuVersion;
import io.hvspi.plugin.qemu.state.IntentLog;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmSpec;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/** VM specs and host contexts for tests, built by hand (no Kata config loader involved). */
public final class TestVms {
    /** Debian's QEMU: 7.2 on Debian 12, 10.0 on Debian 13. */
    public static final Path QEMU = Path.of("/usr/bin/qemu-system-x86_64");

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
        return spec(QEMU, vmId, pool, policy, blockDriver, rootPorts);
    }

    /** The same on another QEMU binary (Kata's {@code path}), such as {@link QemuBinary#other()}'s wrapper. */
    public static VmSpec spec(Path binary, String vmId, int pool, IOThreadPolicy policy) {
        return spec(binary, vmId, pool, policy, "virtio-blk-pci", 8);
    }

    public static VmSpec spec(Path binary, String vmId, int pool, IOThreadPolicy policy, String blockDriver,
                              int rootPorts) {
        return VmSpec.builder().vmId(vmId).hypervisorType("qemu").binary(binary).vcpus(2).memoryMib(128)
                .machineType("q35").accel("tcg")
                .block(new VmSpec.BlockOptions(blockDriver, "io_uring", false, false, false))
                .ioThreads(new VmSpec.IOThreadOptions(pool > 0, pool, policy)).hotplugSlots(rootPorts).build();
    }

    /** The installed QEMU's version, from {@code --version}; see {@link QemuBinary#system()}. */
    public static QemuVersion installedQemu() {
        return QemuBinary.system().version();
    }

    /** A host context rooted in a test's temporary directory. */
    public static DefaultHostContext host(Path root) {
        return new DefaultHostContext(root.resolve("run"), Duration.ofSeconds(10), Map.of());
    }

    /**
     * What a VM has recorded: its record with its intent log applied (attaches finished after the
     * record's last save replayed, operations in flight as intents), as a reattach starts from.
     */
    public static QemuState durable(VmRecord record) {
        QemuState saved = QemuState.fromJson(record.pluginState());
        return IntentLog.read(new RuntimeLayout(record.runtimeDir()).intentLog(), saved.intentLog()).applyTo(saved);
    }

    /**
     * A VM's record and intent log as they are now: what a process killed at this point leaves
     * behind, to put back after the handle's close has saved and emptied them.
     */
    public record KilledFiles(Path record, String recordJson, Path log, byte[] logBytes) {
        public static KilledFiles of(VmRecord vm) throws java.io.IOException {
            Path record = vm.runtimeDir().resolve("vm.json");
            Path log = new RuntimeLayout(vm.runtimeDir()).intentLog();
            return new KilledFiles(record, java.nio.file.Files.readString(record), log,
                    java.nio.file.Files.readAllBytes(log));
        }

        public void restore() throws java.io.IOException {
            java.nio.file.Files.writeString(record, recordJson);
            java.nio.file.Files.write(log, logBytes);
        }
    }
}
