package io.hvspi.spi;

import java.util.List;

/** Which IOThread(s) a device should use. */
public sealed interface IOThreadChoice {

    /** Let the pool's policy pick one (the default). On a VMM without a pool: the main loop. */
    record ByPolicy() implements IOThreadChoice {}

    /**
     * Exactly this IOThread. An id the pool does not have is refused with
     * {@link RequestRejectedException} ({@code NOT_FOUND}); on a VM without
     * {@link Capability#INDEPENDENT_IOTHREADS} any named IOThread fails with
     * {@link UnsupportedCapabilityException} and attaches nothing.
     */
    record Named(String id) implements IOThreadChoice {}

    /** No IOThread: the VMM's main loop serves the device. */
    record MainLoop() implements IOThreadChoice {}

    /**
     * Several IOThreads, the device's queues spread over them in order
     * (QEMU {@code iothread-vq-mapping}). Needs {@link Capability#IOTHREAD_VQ_MAPPING}.
     */
    record VqMapped(List<String> ids) implements IOThreadChoice {
        public VqMapped {
            ids = List.copyOf(ids);
            if (ids.isEmpty()) {
                throw new IllegalArgumentException("vq-mapping needs at least one IOThread");
            }
        }
    }

    static IOThreadChoice byPolicy() {
        return new ByPolicy();
    }

    static IOThreadChoice named(String id) {
        return new Named(id);
    }

    static IOThreadChoice mainLoop() {
        return new MainLoop();
    }

    static IOThreadChoice vqMapped(List<String> ids) {
        return new VqMapped(ids);
    }
}
