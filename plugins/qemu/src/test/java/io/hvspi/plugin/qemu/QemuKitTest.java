package io.hvspi.plugin.qemu;

import static io.hvspi.tck.CapabilityExpectation.DEPENDS_ON_BINARY;
import static io.hvspi.tck.CapabilityExpectation.SUPPORTED;
import static io.hvspi.tck.CapabilityExpectation.UNSUPPORTED;

import io.hvspi.spi.Capability;
import io.hvspi.tck.CapabilityExpectation;
import io.hvspi.tck.HypervisorContract;
import io.hvspi.tck.backend.BaseTckBackend;
import io.hvspi.tck.backend.QemuTckBackend;
import io.hvspi.tck.backend.TckBackend;

/** The compatibility kit against real QEMU ({@code accel=tcg}, no guest). */
class QemuKitTest extends HypervisorContract {
    @Override
    protected TckBackend createBackend() {
        return new QemuTckBackend(new QemuHypervisorFactory(), QemuTckBackend.locate().orElse(TestVms.QEMU),
                BaseTckBackend.tempWorkDir("qemu-kit"));
    }

    @Override
    protected CapabilityExpectation expect(Capability c) {
        return switch (c) { // no default: a new capability must be decided here
            case BLOCK_DEVICE, BLOCK_DEVICE_HOTPLUG, BLOCK_DEVICE_DISCARD, MULTI_QUEUE, NETWORK_DEVICE_HOTPLUG,
                 FS_SHARING, INDEPENDENT_IOTHREADS, IOTHREAD_RUNTIME_ADD, IOTHREAD_POLLING, IOTHREAD_MOVE -> SUPPORTED;
            // iothread-vq-mapping came with QEMU 9.0; the probe decides
            case IOTHREAD_VQ_MAPPING -> DEPENDS_ON_BINARY;
            case HYBRID_VSOCK, GUEST_MEMORY_PROBE, PER_QUEUE_IO_THREADS, QUEUE_AFFINITY -> UNSUPPORTED;
        };
    }
}
