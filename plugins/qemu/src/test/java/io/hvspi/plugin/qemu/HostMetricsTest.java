package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.host.HvspiHost;
import io.hvspi.core.host.VmHandle;
import io.hvspi.core.metrics.HostMetrics;
import io.hvspi.core.metrics.MicrometerMetrics;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.IOThreadPolicy;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The host's Micrometer meters, on a real QEMU: hotplug latency, QMP round trips, errors by kind, running VMs. */
class HostMetricsTest {
    @TempDir
    Path tmp;

    @Test
    void aHostGivenARegistryRecordsHotplugQmpErrorsAndRunningVms() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (HvspiHost host = HvspiHost.builder().classpathPlugins().runtimeRoot(tmp.resolve("run"))
                .metrics(MicrometerMetrics.of(registry)).build()) {
            try (VmHandle vm = host.start(TestVms.spec("metered", 2, IOThreadPolicy.LEAST_LOADED))) {
                // the gauge reads the records; it read 0 while the store kept the identity of the process
                // before it exec'd QEMU (VmmProcessTest.aRecordSavedBeforeTheVmmExecd...)
                assertEquals(1.0, registry.get(MicrometerMetrics.RUNNING_VMS).gauge().value(),
                        () -> "running VMs; the host lists " + host.list());

                vm.hotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());
                vm.hotplug().detach("d0", Duration.ofSeconds(20));
                HvspiException unknown = assertThrows(HvspiException.class,
                        () -> vm.hotplug().detach("nosuch", Duration.ofSeconds(1)));

                Timer attach = registry.get(MicrometerMetrics.HOTPLUG)
                        .tags("hypervisor", "qemu", "operation", "attach", "outcome", "ok").timer();
                assertEquals(1, attach.count());
                assertTrue(attach.totalTime(TimeUnit.NANOSECONDS) > 0, "no time recorded");
                assertEquals(1, registry.get(MicrometerMetrics.HOTPLUG)
                        .tags("operation", "detach", "outcome", "ok").timer().count());
                assertEquals(1.0, registry.get(MicrometerMetrics.ERRORS)
                        .tags("hypervisor", "qemu", "operation", "detach", "kind", HostMetrics.kind(unknown))
                        .counter().count());

                Timer deviceAdd = registry.get(MicrometerMetrics.VMM_REQUESTS)
                        .tags("hypervisor", "qemu", "command", "device_add", "outcome", "ok").timer();
                assertTrue(deviceAdd.count() >= 1, "device_add not timed");
                assertTrue(registry.get(MicrometerMetrics.VMM_REQUESTS).tags("command", "query-status").timer()
                        .count() >= 1, "query-status not timed");
            }
            assertEquals(0.0, registry.get(MicrometerMetrics.RUNNING_VMS).gauge().value(), "the stopped VM counts");
        }
    }

    @Test
    void aHostWithoutMetricsReportsToNothing() {
        // the default: HostMetrics.NONE; the plugin's round trips go nowhere
        try (HvspiHost host = HvspiHost.builder().classpathPlugins().runtimeRoot(tmp.resolve("run")).build();
             VmHandle vm = host.start(TestVms.spec("plain", 0, IOThreadPolicy.ROUND_ROBIN))) {
            vm.hotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());
            assertEquals(HostMetrics.NONE, host.context().metrics());
        }
    }
}
