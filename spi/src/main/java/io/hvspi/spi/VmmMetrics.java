package io.hvspi.spi;

import java.time.Duration;

/**
 * Where a plugin reports what only it can measure: each request to its VMM and the
 * time to the answer. The host records it (into Micrometer, when an embedder gave
 * hvspi a registry) or drops it; a call must cost next to nothing either way.
 *
 * @since 1.1
 */
public interface VmmMetrics {
    /** Records nothing. */
    VmmMetrics NONE = new VmmMetrics() {};

    /**
     * One request to the VMM and its answer.
     *
     * @param hypervisorType the plugin's type, e.g. {@code qemu}
     * @param command the request, e.g. {@code device_add} or {@code PUT /api/v1/vm.add-disk}
     * @param took from sending the request to its answer
     * @param ok false when the VMM answered with an error
     */
    default void roundTrip(String hypervisorType, String command, Duration took, boolean ok) {}
}
