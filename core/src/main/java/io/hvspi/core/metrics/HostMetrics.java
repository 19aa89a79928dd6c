package io.hvspi.core.metrics;

import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmmMetrics;
import io.hvspi.spi.VmmUnavailableException;
import java.time.Duration;
import java.util.Optional;
import java.util.function.IntSupplier;

/**
 * What {@link io.hvspi.core.host.HvspiHost} measures, besides the plugins' VMM round
 * trips: hotplug latency, errors by kind, and the running VMs. {@link #NONE} records
 * nothing; {@link MicrometerMetrics} records into a Micrometer registry. This
 * interface names no Micrometer type, so the host runs without Micrometer on the
 * class path.
 */
public interface HostMetrics extends VmmMetrics {
    /** Records nothing. */
    HostMetrics NONE = new HostMetrics() {};

    /**
     * One hotplug operation through a VM handle.
     *
     * @param operation {@code attach}, {@code detach} or {@code move}
     * @param failure the error it ended with, or empty
     */
    default void hotplug(String hypervisorType, String operation, Duration took, Optional<Throwable> failure) {}

    /** An error a VM operation of the host ({@code start}, {@code reattach}, {@code stop}, hotplug) ended with. */
    default void error(String hypervisorType, String operation, Throwable failure) {}

    /** Called once by the host: how to count its running VMs when asked. */
    default void runningVms(IntSupplier count) {}

    /**
     * An error's kind for a tag: its class's simple name, with the reason where the
     * class has one, e.g. {@code VmmUnavailableException.TIMED_OUT}.
     */
    static String kind(Throwable failure) {
        String name = failure.getClass().getSimpleName();
        if (failure instanceof VmmUnavailableException u) {
            return name + "." + u.reason();
        }
        if (failure instanceof RequestRejectedException r) {
            return name + "." + r.reason();
        }
        return name;
    }
}
