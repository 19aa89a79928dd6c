package io.hvspi.example;

import static io.hvspi.tck.CapabilityExpectation.SUPPORTED;
import static io.hvspi.tck.CapabilityExpectation.UNSUPPORTED;

import io.hvspi.spi.Capability;
import io.hvspi.tck.CapabilityExpectation;
import io.hvspi.tck.HypervisorContract;
import io.hvspi.tck.backend.BaseTckBackend;
import io.hvspi.tck.backend.GenericTckBackend;
import io.hvspi.tck.backend.TckBackend;
import io.hvspi.example.memvm.MemVmQueuesFactory;

/**
 * The kit against memvm's per-queue flavour: every capability the pool flavour
 * lacks is exercised here, so that each guarded test has run down both branches.
 */
class MemVmQueuesKitTest extends HypervisorContract {

    @Override
    protected TckBackend createBackend() {
        return new GenericTckBackend(new MemVmQueuesFactory(), BaseTckBackend.tempWorkDir("memvmq"));
    }

    @Override
    protected CapabilityExpectation expect(Capability c) {
        return switch (c) {
            case BLOCK_DEVICE, BLOCK_DEVICE_HOTPLUG, MULTI_QUEUE, PER_QUEUE_IO_THREADS, QUEUE_AFFINITY -> SUPPORTED;
            case BLOCK_DEVICE_DISCARD, NETWORK_DEVICE_HOTPLUG, FS_SHARING, HYBRID_VSOCK, GUEST_MEMORY_PROBE,
                 INDEPENDENT_IOTHREADS, IOTHREAD_RUNTIME_ADD, IOTHREAD_POLLING, IOTHREAD_VQ_MAPPING,
                 IOTHREAD_MOVE, IOTHREAD_PINNING -> UNSUPPORTED;
        };
    }
}
