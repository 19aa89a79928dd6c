package io.hvspi.example;

import static io.hvspi.tck.CapabilityExpectation.SUPPORTED;
import static io.hvspi.tck.CapabilityExpectation.UNSUPPORTED;

import io.hvspi.spi.Capability;
import io.hvspi.tck.CapabilityExpectation;
import io.hvspi.tck.HypervisorContract;
import io.hvspi.tck.backend.BaseTckBackend;
import io.hvspi.tck.backend.GenericTckBackend;
import io.hvspi.tck.backend.TckBackend;
import io.hvspi.example.memvm.MemVmHypervisorFactory;

/** The whole kit against memvm, the worked third-party example: how a plugin runs the kit. */
class MemVmKitTest extends HypervisorContract {

    @Override
    protected TckBackend createBackend() {
        return new GenericTckBackend(new MemVmHypervisorFactory(), BaseTckBackend.tempWorkDir("memvm"));
    }

    @Override
    protected CapabilityExpectation expect(Capability c) {
        return switch (c) {
            case BLOCK_DEVICE, BLOCK_DEVICE_HOTPLUG, MULTI_QUEUE, INDEPENDENT_IOTHREADS, IOTHREAD_RUNTIME_ADD,
                 IOTHREAD_POLLING, IOTHREAD_VQ_MAPPING, IOTHREAD_MOVE -> SUPPORTED;
            case BLOCK_DEVICE_DISCARD, NETWORK_DEVICE_HOTPLUG, FS_SHARING, HYBRID_VSOCK, GUEST_MEMORY_PROBE,
                 PER_QUEUE_IO_THREADS, QUEUE_AFFINITY,
                 IOTHREAD_PINNING -> UNSUPPORTED;
        };
    }
}
