package io.hvspi.tck.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.VmEvent;
import io.hvspi.tck.TckKit;
import io.hvspi.tck.backend.GenericTckBackend;
import io.hvspi.example.memvm.MemVmHypervisorFactory;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kit catches the promises a plugin can break quietly: each plugin here is
 * memvm (which passes) with one method replaced, and must fail exactly where
 * that promise is tested.
 */
class StrictKitTest {
    @TempDir
    Path work;

    private PluginRun run(String id, UnaryOperator<Hypervisor> change) {
        CompatReport report = new CompatRunner(GenericTckBackend::new, work, s -> { })
                .run(List.of(new PluginUnderTest(id, "1.0.0", Misbehaving.factory(new MemVmHypervisorFactory(), change))));
        return report.plugins().get(0);
    }

    private static Map<String, TestResult> withOutcome(PluginRun run, TestResult.Outcome outcome) {
        return run.results().entrySet().stream().filter(e -> e.getValue().outcome() == outcome)
                .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
    }

    @Test
    void aPluginThatIgnoresSetPollingFailsThePollingContract() {
        PluginRun run = run("deaf-polling", vm -> Misbehaving.replace(Hypervisor.class, vm, "ioThreads",
                (honest, args) -> ((Hypervisor) honest).ioThreads().map(pool -> Misbehaving.replace(
                        IOThreadProvider.class, pool, "setPolling", (p, a) -> null))));
        assertEquals(List.of("iothreads.pollingParametersAreApplied"), List.copyOf(withOutcome(run, TestResult.Outcome.FAILED).keySet()));
        assertTrue(run.results().get("iothreads.pollingParametersAreApplied").message().orElseThrow()
                .contains("must report what was set"), run.results()::toString);
    }

    @Test
    void aMissingViewIsOneRootCauseFailureAndTheTestsThroughItAreSkipped() {
        PluginRun run = run("no-hotplug-view", vm -> Misbehaving.replace(Hypervisor.class, vm, "hotplug",
                (honest, args) -> Optional.empty()));
        assertEquals(List.of(TckKit.VIEW_TEST), List.copyOf(withOutcome(run, TestResult.Outcome.FAILED).keySet()),
                run.results()::toString);
        Map<String, TestResult> skipped = withOutcome(run, TestResult.Outcome.SKIPPED);
        assertTrue(skipped.containsKey("hotplug.attachListAndDetach"), skipped::toString);
        assertTrue(skipped.size() >= 10, () -> "the tests through the view are skipped: " + skipped.keySet());
        assertTrue(skipped.get("hotplug.attachListAndDetach").message().orElseThrow().contains(TckKit.VIEW_TEST),
                skipped::toString);
    }

    @Test
    void aPluginWhoseSubscriptionsDeliverNothingFailsTheEventContract() {
        PluginRun run = run("mute", vm -> Misbehaving.replace(Hypervisor.class, vm, "subscribe",
                (honest, args) -> (Hypervisor.Subscription) () -> { }));
        assertEquals(List.of("events.closedSubscriptionReceivesNothing", "events.subscriberReceivesTheVmmsEvents",
                        "events.vmmExitedExactlyOnceAfterStop"),
                withOutcome(run, TestResult.Outcome.FAILED).keySet().stream().sorted().toList());
    }

    @Test
    @SuppressWarnings("unchecked")
    void aSubscriptionThatKeepsDeliveringAfterCloseFailsTheEventContract() {
        PluginRun run = run("leaky", vm -> Misbehaving.replace(Hypervisor.class, vm, "subscribe",
                (honest, args) -> {
                    ((Hypervisor) honest).subscribe((Consumer<VmEvent>) args[0]);
                    return (Hypervisor.Subscription) () -> { };
                }));
        assertEquals(List.of("events.closedSubscriptionReceivesNothing"),
                List.copyOf(withOutcome(run, TestResult.Outcome.FAILED).keySet()));
    }

    /**
     * A plugin written against SPI 1.0 has no pin/unpin: the SPI's defaults refuse with a placeholder type,
     * and the kit names the plugin's type instead of failing it (docs/spi-versioning.md: a 1.0 plugin passes a 1.1 kit).
     */
    @Test
    void aPluginThatLeavesPinToTheSpisDefaultPassesTheKit() {
        PluginRun run = run("spi-1-0", vm -> Misbehaving.replace(Hypervisor.class, vm, "ioThreads",
                (honest, args) -> ((Hypervisor) honest).ioThreads().map(StrictKitTest::withSpiDefaultPin)));
        assertEquals(Map.of(), withOutcome(run, TestResult.Outcome.FAILED), run.results()::toString);
        assertEquals(TestResult.Outcome.UNSUPPORTED,
                run.results().get("iothreads.pinnedIoThreadHasTheKernelsAffinity").outcome(), run.results()::toString);
    }

    /** {@code honest} as an SPI 1.0 plugin wrote it: {@code pin} and {@code unpin} are the SPI's defaults. */
    private static IOThreadProvider withSpiDefaultPin(IOThreadProvider honest) {
        InvocationHandler handler = (proxy, m, args) -> {
            if (m.getName().equals("pin") || m.getName().equals("unpin")) {
                return InvocationHandler.invokeDefault(proxy, m, args);
            }
            try {
                return m.invoke(honest, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        };
        return (IOThreadProvider) Proxy.newProxyInstance(IOThreadProvider.class.getClassLoader(),
                new Class<?>[] {IOThreadProvider.class}, handler);
    }
}
