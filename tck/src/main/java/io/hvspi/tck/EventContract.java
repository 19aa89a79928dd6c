package io.hvspi.tck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.Capability;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.VmEvent;
import java.util.List;
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
    }

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
}
