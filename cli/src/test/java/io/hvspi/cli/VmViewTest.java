package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

class VmViewTest {

    @Test
    void aVmmThatStopsAnsweringAfterAChangeGetsAnErrorThatSaysTheChangeWasMade() {
        VmmUnavailableException lost = new VmmUnavailableException(Reason.TIMED_OUT,
                "no reply to query-cpus-fast from /run/x/qmp.sock within 2000 ms");
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                () -> VmView.afterChange("attached device 'd1'", () -> {
                    throw lost;
                }));
        assertEquals(Reason.TIMED_OUT, e.reason(), "still the VMM's unavailability: exit 5");
        assertEquals("attached device 'd1', but cannot show it: " + lost.getMessage(), e.getMessage());
        assertSame(lost, e.getCause());
    }

    @Test
    void otherFailuresAndSuccessPassThroughUnchanged() {
        VmmException refused = new VmmException("query-iothreads", "GenericError", "no");
        assertSame(refused, assertThrows(VmmException.class, () -> VmView.afterChange("moved device 'd1'", () -> {
            throw refused;
        })));
        AtomicBoolean shown = new AtomicBoolean();
        VmView.afterChange("moved device 'd1'", () -> shown.set(true));
        assertTrue(shown.get());
    }
}
