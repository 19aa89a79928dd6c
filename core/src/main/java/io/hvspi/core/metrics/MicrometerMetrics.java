package io.hvspi.core.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.function.IntSupplier;

/**
 * hvspi's measurements in a Micrometer {@link MeterRegistry}. The only class of
 * hvspi that names Micrometer (an optional dependency): an embedder without it
 * never loads this class.
 *
 * <pre>{@code
 * HvspiHost host = HvspiHost.builder().classpathPlugins().metrics(MicrometerMetrics.of(registry)).build();
 * }</pre>
 *
 * Meters: {@value #HOTPLUG} (timer; tags hypervisor, operation, outcome),
 * {@value #VMM_REQUESTS} (timer of the VMM's round trips; tags hypervisor, command, outcome),
 * {@value #ERRORS} (counter; tags hypervisor, operation, kind), {@value #RUNNING_VMS} (gauge).
 */
public final class MicrometerMetrics implements HostMetrics {
    public static final String HOTPLUG = "hvspi.hotplug";
    public static final String VMM_REQUESTS = "hvspi.vmm.requests";
    public static final String ERRORS = "hvspi.errors";
    public static final String RUNNING_VMS = "hvspi.vms.running";

    private final MeterRegistry registry;

    private MicrometerMetrics(MeterRegistry registry) {
        this.registry = Objects.requireNonNull(registry, "registry");
    }

    public static MicrometerMetrics of(MeterRegistry registry) {
        return new MicrometerMetrics(registry);
    }

    @Override
    public void roundTrip(String hypervisorType, String command, Duration took, boolean ok) {
        Timer.builder(VMM_REQUESTS).description("Requests to the VMM (QMP commands, API calls) until their answer")
                .tags("hypervisor", hypervisorType, "command", command, "outcome", ok ? "ok" : "error")
                .register(registry).record(took);
    }

    @Override
    public void hotplug(String hypervisorType, String operation, Duration took, Optional<Throwable> failure) {
        Timer.builder(HOTPLUG).description("Block device hotplug through hvspi, the VMM's confirmation included")
                .tags("hypervisor", hypervisorType, "operation", operation,
                        "outcome", failure.map(HostMetrics::kind).orElse("ok"))
                .register(registry).record(took);
    }

    @Override
    public void error(String hypervisorType, String operation, Throwable failure) {
        Counter.builder(ERRORS).description("Errors of VM operations, by kind")
                .tags("hypervisor", hypervisorType, "operation", operation, "kind", HostMetrics.kind(failure))
                .register(registry).increment();
    }

    @Override
    public void runningVms(IntSupplier count) {
        Gauge.builder(RUNNING_VMS, count, IntSupplier::getAsInt)
                .description("VMs recorded under the host's runtime root whose VMM runs").strongReference(true)
                .register(registry);
    }
}
