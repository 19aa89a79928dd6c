package io.hvspi.kit.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmUnavailableException;
import org.junit.jupiter.api.Test;

class LifecycleTest {
    private final Lifecycle life = Lifecycle.created("toy", "vm1");

    @Test
    void runsThroughCreatedRunningPausedStopped() {
        assertEquals(VmState.CREATED, life.state());
        life.beginStart();
        life.started(VmState.RUNNING);
        life.paused();
        assertEquals(VmState.PAUSED, life.state());
        life.resumed();
        assertEquals(VmState.RUNNING, life.state());
        assertTrue(life.beginStop());
        assertEquals(VmState.STOPPED, life.state());
        assertFalse(life.beginStop(), "a second stop has nothing to do");
    }

    @Test
    void aVmStartsOnceAndNeverAfterItsStop() {
        life.beginStart();
        RequestRejectedException twice = assertThrows(RequestRejectedException.class, life::beginStart);
        assertEquals(RequestRejectedException.Reason.INVALID_STATE, twice.reason());
        life.started(VmState.RUNNING);
        life.beginStop();
        RequestRejectedException again = assertThrows(RequestRejectedException.class, life::beginStart);
        assertEquals("toy: VM 'vm1' was already started (state stopped)", again.getMessage());
    }

    @Test
    void aFailedStartMayBeRetried() {
        life.beginStart();
        life.startFailed();
        life.beginStart();
        life.started(VmState.PAUSED);
        assertTrue(life.isStarted());
    }

    @Test
    void operationsBeforeStartAndAfterStopAreInvalidState() {
        RequestRejectedException before = assertThrows(RequestRejectedException.class,
                () -> life.requireStarted("pause"));
        assertEquals("toy: cannot pause VM 'vm1': it is not started", before.getMessage());
        life.beginStart();
        life.started(VmState.RUNNING);
        life.requireStarted("pause");
        life.beginStop();
        RequestRejectedException after = assertThrows(RequestRejectedException.class,
                () -> life.requireStarted("attach 'd1' to"));
        assertEquals("toy: cannot attach 'd1' to VM 'vm1': it is stopped", after.getMessage());
    }

    @Test
    void aDeadVmmIsReportedOnceAndRefusesAsExited() {
        assertFalse(life.failed(), "a VM that never started cannot fail");
        life.beginStart();
        life.started(VmState.RUNNING);
        assertTrue(life.failed());
        assertFalse(life.failed(), "reported once");
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> life.requireStarted("pause"));
        assertEquals(VmmUnavailableException.Reason.EXITED, e.reason());
        life.beginStop();
        assertFalse(life.failed(), "a stopped VM does not fail");
    }

    @Test
    void aReattachedVmIsStarted() {
        Lifecycle found = Lifecycle.reattached("toy", "vm2", VmState.PAUSED);
        assertTrue(found.isStarted());
        assertThrows(RequestRejectedException.class, found::beginStart);
        assertThrows(IllegalArgumentException.class, () -> Lifecycle.reattached("toy", "vm3", VmState.STOPPED));
    }

    @Test
    void aStopThatCouldNotProveTheVmmGoneReturnsToTheStateBeforeItSoThatAStopRetries() {
        life.beginStart();
        life.started(VmState.RUNNING);
        life.paused();
        assertTrue(life.beginStop());
        assertThrows(RequestRejectedException.class, () -> life.requireStarted("attach 'd0' to"),
                "calls begun during the stop are refused");
        life.stopFailed();
        assertEquals(VmState.PAUSED, life.state());
        assertTrue(life.beginStop(), "a later stop runs again");
        assertFalse(life.beginStop());
        life.stopFailed();
        life.stopFailed(); // once only
        assertEquals(VmState.PAUSED, life.state());
    }
}
