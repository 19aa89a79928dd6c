package io.hvspi.plugin.qemu.iothread;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.plugin.qemu.state.QemuState.IOThreadState;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo.Kind;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The pool's accounting without QEMU: reservations, confirmation, release, removal. */
class IOThreadPoolTest {

    private static IOThreadPool pool(IOThreadPolicy policy, int size) {
        List<IOThreadState> members = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            members.add(new IOThreadState("t" + i, Kind.POOL));
        }
        members.add(new IOThreadState("ctl", Kind.CONTROLLER));
        return new IOThreadPool(new Object(), members, policy, 0);
    }

    @Test
    void reservationsCountAsLoadSoConcurrentAttachesSpread() {
        IOThreadPool p = pool(IOThreadPolicy.LEAST_LOADED, 3);
        IOThreadPool.Reservation a = p.reserve(IOThreadChoice.byPolicy());
        IOThreadPool.Reservation b = p.reserve(IOThreadChoice.byPolicy());
        IOThreadPool.Reservation c = p.reserve(IOThreadChoice.byPolicy());
        assertEquals(List.of("t0", "t1", "t2"),
                List.of(a.ioThreads().get(0), b.ioThreads().get(0), c.ioThreads().get(0)));
        assertEquals(List.of(), p.devicesOn("t0"), "nothing is assigned before QEMU confirms");
        p.confirm(a, "d0");
        assertEquals(List.of("d0"), p.devicesOn("t0"));
    }

    @Test
    void aReleasedReservationLeaksNothing() {
        IOThreadPool p = pool(IOThreadPolicy.ROUND_ROBIN, 2);
        IOThreadPool.Reservation r = p.reserve(IOThreadChoice.byPolicy());
        assertEquals(1, p.load("t0"));
        assertEquals(1, p.turn());
        p.release(r);
        p.release(r); // idempotent
        assertEquals(0, p.load("t0"));
        assertEquals(0, p.turn(), "a failed attach does not move round-robin's cursor");
        assertEquals("t0", p.choose());
        assertThrows(IllegalStateException.class, () -> p.confirm(r, "d0"));
    }

    @Test
    void roundRobinCountsOnlyPlacementsByPolicy() {
        IOThreadPool p = pool(IOThreadPolicy.ROUND_ROBIN, 3);
        p.confirm(p.reserve(IOThreadChoice.byPolicy()), "d0");
        p.confirm(p.reserve(IOThreadChoice.named("t2")), "d1");
        p.confirm(p.reserve(IOThreadChoice.mainLoop()), "d2");
        assertEquals(1, p.placedByPolicy());
        assertEquals("t1", p.choose());
    }

    @Test
    void firstAlwaysPicksTheFirstPoolMember() {
        IOThreadPool p = pool(IOThreadPolicy.FIRST, 3);
        for (int i = 0; i < 4; i++) {
            p.confirm(p.reserve(IOThreadChoice.byPolicy()), "d" + i);
        }
        assertEquals(List.of("d0", "d1", "d2", "d3"), p.devicesOn("t0"));
    }

    @Test
    void anEmptyPoolMeansTheMainLoopByPolicyAndExhaustedWhenAsked() {
        IOThreadPool p = pool(IOThreadPolicy.LEAST_LOADED, 0);
        assertEquals(List.of(), p.reserve(IOThreadChoice.byPolicy()).ioThreads());
        assertEquals(Reason.EXHAUSTED, assertThrows(RequestRejectedException.class, p::choose).reason());
    }

    @Test
    void choicesMustNamePoolMembers() {
        IOThreadPool p = pool(IOThreadPolicy.LEAST_LOADED, 2);
        assertEquals(Reason.NOT_FOUND, assertThrows(RequestRejectedException.class,
                () -> p.reserve(IOThreadChoice.named("t9"))).reason());
        assertEquals(Reason.INVALID_ARGUMENT, assertThrows(RequestRejectedException.class,
                () -> p.reserve(IOThreadChoice.named("ctl"))).reason(), "the controller's IOThread is not the pool's");
        assertEquals(Reason.INVALID_ARGUMENT, assertThrows(RequestRejectedException.class,
                () -> p.reserve(IOThreadChoice.vqMapped(List.of("t0", "t0")))).reason());
        assertEquals(0, p.load("t0"), "a refused choice reserves nothing");
    }

    @Test
    void removalIsRefusedInUseOrReservedAndKeepsNewDevicesOffDuringIt() {
        IOThreadPool p = pool(IOThreadPolicy.LEAST_LOADED, 2);
        p.confirm(p.reserve(IOThreadChoice.named("t0")), "d0");
        RequestRejectedException inUse = assertThrows(RequestRejectedException.class, () -> p.beginRemove("t0"));
        assertEquals(Reason.IN_USE, inUse.reason());
        assertTrue(inUse.getMessage().contains("d0"), inUse.getMessage());
        IOThreadPool.Reservation pending = p.reserve(IOThreadChoice.named("t1"));
        assertEquals(Reason.IN_USE, assertThrows(RequestRejectedException.class, () -> p.beginRemove("t1")).reason());
        p.release(pending);

        p.beginRemove("t1");
        assertEquals(Reason.INVALID_STATE, assertThrows(RequestRejectedException.class,
                () -> p.reserve(IOThreadChoice.named("t1"))).reason());
        assertEquals("t0", p.choose(), "the policy skips an IOThread being removed");
        p.finishRemove("t1", false);
        assertEquals("t1", p.choose(), "a failed removal gives it back");
        p.beginRemove("t1");
        p.finishRemove("t1", true);
        assertEquals(List.of("t0"), p.poolIds());
    }

    @Test
    void unassignFreesTheDevicesSlot() {
        IOThreadPool p = pool(IOThreadPolicy.LEAST_LOADED, 2);
        p.confirm(p.reserve(IOThreadChoice.byPolicy()), "d0");
        p.confirm(p.reserve(IOThreadChoice.byPolicy()), "d1");
        p.unassign("d0");
        assertEquals("t0", p.choose());
        assertEquals(0, p.load("t0"));
    }
}
