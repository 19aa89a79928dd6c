package io.hvspi.tck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hvspi.spi.Capability;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmUnavailableException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * {@link Hypervisor#subscribe}: subscribers get the VMM's events (for a VMM with
 * hotplug, the event of a detach; for every VMM, the end of the VMM when the VM
 * stops), off the caller's thread, until they close the subscription.
 */
@Contract(value = "events", title = "Events")
public abstract class EventContract extends ContractBase {

    protected EventContract(TckKit kit) {
        super(kit);
    }

    /** Events one listener received, with the thread each came on. */
    private static final class Received implements Consumer<VmEvent> {
        final List<VmEvent> events = new CopyOnWriteArrayList<>();
        final List<Thread> threads = new CopyOnWriteArrayList<>();

        @Override
        public void accept(VmEvent event) {
            threads.add(Thread.currentThread());
            events.add(event);
        }

        String names() {
            return events.stream().map(VmEvent::name).collect(Collectors.joining(","));
        }

        long exits() {
            return events.stream().filter(e -> VmEvent.VMM_EXITED.equals(e.name())).count();
        }
    }

    /** How long after a stop or a VMM's death its {@code VMM_EXITED} may take. */
    static final Duration EXIT_WAIT = Duration.ofSeconds(5);
    /** How long the kit keeps listening after the first {@code VMM_EXITED}, for a second one or a later event. */
    static final Duration AFTER_EXIT = Duration.ofMillis(500);

    @Test
    @Order(1)
    @DisplayName("a subscriber receives the VMM's events (a detach, the VM's end) off the caller's thread")
    void subscriberReceivesTheVmmsEvents() {
        Hypervisor vm = kit.startVm();
        Received received = new Received();
        vm.subscribe(received);
        makeEvents(vm);
        assertTrue(HostProc.await(() -> !received.events.isEmpty(), THREAD_WAIT),
                () -> "no event within " + THREAD_WAIT.toSeconds() + " s of a detach and a stop"
                        + " (the SPI promises at least VMM_EXITED when the VMM goes away)");
        kit.note("hvspi.events", received.names());
        for (VmEvent e : received.events) {
            assertFalse(e.name().isBlank(), "an event has a name");
            assertTrue(e.timestamp() != null, "an event has a timestamp");
        }
        for (Thread t : received.threads) {
            assertNotEquals(Thread.currentThread(), t, "events must be delivered on a thread that is not the caller's");
        }
    }

    @Test
    @Order(2)
    @DisplayName("closing a subscription stops delivery to it, and only to it")
    void closedSubscriptionReceivesNothing() {
        Hypervisor vm = kit.startVm();
        Received closed = new Received();
        Received open = new Received();
        vm.subscribe(closed).close();
        vm.subscribe(open);
        makeEvents(vm);
        assertTrue(HostProc.await(() -> !open.events.isEmpty(), THREAD_WAIT),
                () -> "the open subscription got no event within " + THREAD_WAIT.toSeconds() + " s");
        assertEquals("", closed.names(), "a closed subscription must receive nothing");
    }

    /** A detach where the VM has hotplug, then a stop: what makes a VMM (and hvspi) emit events. */
    private void makeEvents(Hypervisor vm) {
        if (vm.supports(Capability.BLOCK_DEVICE_HOTPLUG)) {
            hotplug(vm).attach(disk(vm, "tck-ev").build());
            hotplug(vm).detach("tck-ev");
        }
        vm.stop();
    }

    @Test
    @Order(3)
    @DisplayName("stop delivers exactly one VMM_EXITED, and it is the last event")
    void vmmExitedExactlyOnceAfterStop() throws InterruptedException {
        Hypervisor vm = kit.startVm();
        Received received = new Received();
        vm.subscribe(received);
        vm.stop();
        assertExitedOnce(received, "a stop");
    }

    @Test
    @Order(4)
    @DisplayName("a VMM that dies behind the plugin's back is reported: VMM_EXITED, FAILED, VmmUnavailableException")
    void vmmDeathIsReported() throws InterruptedException {
        Hypervisor vm = kit.startVm();
        VmRecord saved = kit.record(vm);
        // the view is taken while the VMM lives: a missing one aborts here, not after the kill
        DeviceHotplug hotplug = vm.supports(Capability.BLOCK_DEVICE_HOTPLUG) ? hotplug(vm) : null;
        Received received = new Received();
        vm.subscribe(received);
        assumeTrue(kit.backend().killVmm(saved.vmId()),
                "this backend cannot end a VMM behind its plugin's back (an in-process VMM)");
        long killed = System.nanoTime();
        // no call into the plugin meanwhile: the death must be noticed without a caller asking the VMM something
        boolean exited = HostProc.await(() -> received.exits() > 0, EXIT_WAIT);
        String[] state = {"not read"};
        Duration left = EXIT_WAIT.minusNanos(System.nanoTime() - killed);
        HostProc.await(() -> stateOf(vm, state) == VmState.FAILED, left.isNegative() ? Duration.ZERO : left);
        assertTrue(exited, () -> "no VMM_EXITED within " + EXIT_WAIT.toSeconds() + " s of the VMM's death (events: "
                + received.names() + "; state() afterwards: " + state[0] + "): the SPI promises VMM_EXITED when the "
                + "VMM goes away");
        assertEquals(VmState.FAILED.name(), state[0], "a VM whose VMM died without being asked to stop must be "
                + "FAILED within " + EXIT_WAIT.toSeconds() + " s (VmState: STOPPED is for a stop on purpose)");
        assertExitedOnce(received, "the VMM's death");

        Duration bound = kit.backend().host(saved.vmId()).commandTimeout().plus(SLACK);
        assertUnavailable(vm::pause, "pause of a VM whose VMM died", bound);
        if (hotplug != null) {
            assertUnavailable(() -> hotplug.attach(disk(vm, "tck-dead").build()),
                    "attach to a VM whose VMM died", bound);
        }
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> kit.reattach(saved),
                "reattaching a VM whose VMM died must fail with VmmUnavailableException");
        assertOneLine(e);
    }

    /** The VM's state, also kept in {@code seen[0]} (what it threw, when it threw) for the failure message. */
    private static VmState stateOf(Hypervisor vm, String[] seen) {
        try {
            VmState st = vm.state();
            seen[0] = st.name();
            return st;
        } catch (RuntimeException e) {
            seen[0] = "threw " + e;
            return null;
        }
    }

    /** What a call may take past the host's command timeout before the kit calls it a hang. */
    private static final Duration SLACK = Duration.ofSeconds(5);

    /** {@code call} fails with {@link VmmUnavailableException}, in one line, within {@code bound}. */
    private static void assertUnavailable(Runnable call, String what, Duration bound) throws InterruptedException {
        ExecutorService thread = Executors.newSingleThreadExecutor();
        try {
            Future<?> f = thread.submit(() -> {
                call.run();
                return null;
            });
            Throwable failure;
            try {
                f.get(bound.toMillis(), TimeUnit.MILLISECONDS);
                failure = null;
            } catch (ExecutionException ex) {
                failure = ex.getCause();
            } catch (TimeoutException ex) {
                throw new AssertionError(what + " did not return within " + bound.toSeconds()
                        + " s (the command timeout and " + SLACK.toSeconds() + " s): a call to a dead VMM must not hang");
            }
            Throwable thrown = failure;
            assertTrue(thrown instanceof VmmUnavailableException, () -> what + " must fail with "
                    + "VmmUnavailableException, " + (thrown == null ? "but returned" : "not " + thrown));
            assertOneLine(thrown);
        } finally {
            thread.shutdownNow();
        }
    }

    /**
     * Within {@link #EXIT_WAIT} a {@code VMM_EXITED} arrives; {@link #AFTER_EXIT} later it is still the
     * only one and the last event (a VMM that is gone has nothing more to say).
     */
    private static void assertExitedOnce(Received received, String after) throws InterruptedException {
        assertTrue(HostProc.await(() -> received.exits() > 0, EXIT_WAIT),
                () -> "no VMM_EXITED within " + EXIT_WAIT.toSeconds() + " s of " + after + " (events: "
                        + received.names() + "): the SPI promises VMM_EXITED once the VMM is gone");
        Thread.sleep(AFTER_EXIT.toMillis());
        List<VmEvent> events = List.copyOf(received.events);
        assertEquals(1, received.exits(), () -> "exactly one VMM_EXITED after " + after + ", got events: "
                + received.names());
        assertEquals(VmEvent.VMM_EXITED, events.getLast().name(), () -> "VMM_EXITED must be the last event after "
                + after + ", got events: " + received.names());
    }
}
