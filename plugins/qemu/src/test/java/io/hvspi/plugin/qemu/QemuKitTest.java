package io.hvspi.plugin.qemu;

import static io.hvspi.tck.CapabilityExpectation.DEPENDS_ON_BINARY;
import static io.hvspi.tck.CapabilityExpectation.SUPPORTED;
import static io.hvspi.tck.CapabilityExpectation.UNSUPPORTED;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.hvspi.plugin.qemu.qmp.QemuVersion;
import io.hvspi.spi.Capability;
import io.hvspi.tck.CapabilityExpectation;
import io.hvspi.tck.HypervisorContract;
import io.hvspi.tck.KitCatalogue;
import io.hvspi.tck.backend.BaseTckBackend;
import io.hvspi.tck.backend.QemuTckBackend;
import io.hvspi.tck.backend.TckBackend;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The compatibility kit against real QEMU ({@code accel=tcg}, no guest): the system's
 * here, the other Debian release's in {@link QemuKitOnOtherQemuTest}.
 */
class QemuKitTest extends HypervisorContract {
    private Optional<QemuBinary> qemu = Optional.empty();

    /** The QEMU the kit runs on: {@code HVSPI_QEMU} or the first on {@code PATH}, else Debian's. */
    QemuBinary qemu() {
        Path path = QemuTckBackend.locate().orElse(TestVms.QEMU);
        return Files.isExecutable(path) ? new QemuBinary(path, QemuBinary.versionOf(path))
                : new QemuBinary(path, new QemuVersion(0, 0, 0));
    }

    @Override
    protected TckBackend createBackend() {
        qemu = Optional.of(qemu());
        return new QemuTckBackend(new QemuHypervisorFactory(), qemu.get().path(),
                BaseTckBackend.tempWorkDir("qemu-kit"));
    }

    @Override
    protected CapabilityExpectation expect(Capability c) {
        return switch (c) { // no default: a new capability must be decided here
            case BLOCK_DEVICE, BLOCK_DEVICE_HOTPLUG, BLOCK_DEVICE_DISCARD, MULTI_QUEUE, NETWORK_DEVICE_HOTPLUG,
                 INDEPENDENT_IOTHREADS, IOTHREAD_RUNTIME_ADD, IOTHREAD_POLLING, IOTHREAD_MOVE,
                 IOTHREAD_PINNING -> SUPPORTED;
            // iothread-vq-mapping came with QEMU 9.0; the probe decides. Where this QEMU has it, the
            // kit must find it effective (and run the vq-mapping contract for real, not its refusal path)
            case IOTHREAD_VQ_MAPPING -> qemu.filter(QemuBinary::hasVqMapping).isPresent() ? SUPPORTED
                    : DEPENDS_ON_BINARY;
            // fs sharing: QEMU can, but no SPI operation or contract exercises it yet, so it is not declared
            case FS_SHARING, HYBRID_VSOCK, GUEST_MEMORY_PROBE, PER_QUEUE_IO_THREADS, QUEUE_AFFINITY -> UNSUPPORTED;
        };
    }

    /** hvspi's rule for its own plugins: declare only what a contract of the kit exercises. */
    @Test
    void declaresOnlyWhatTheKitExercises() {
        assertEquals(Set.of(), KitCatalogue.notExercised(new QemuHypervisorFactory().declaredCapabilities()),
                "declared, but no contract of the kit exercises it: write the contract or stop declaring it");
    }
}
