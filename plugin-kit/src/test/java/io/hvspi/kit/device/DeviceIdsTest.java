package io.hvspi.kit.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.RequestRejectedException;
import org.junit.jupiter.api.Test;

class DeviceIdsTest {
    @Test
    void acceptsALetterThenSafeCharactersUpTo64() {
        assertTrue(DeviceIds.isValid("d0"));
        assertTrue(DeviceIds.isValid("Scratch_vol.1-a"));
        assertTrue(DeviceIds.isValid("a".repeat(64)));
        assertEquals("iot0", DeviceIds.checkIoThreadId("toy", "iot0"));
    }

    @Test
    void refusesWhatCouldEscapeAFileNameOrACommandLine() {
        for (String bad : new String[] {"", "0disk", "a".repeat(65), "../x", "a,b", "a b", "é", "_x"}) {
            assertFalse(DeviceIds.isValid(bad), bad);
        }
        assertFalse(DeviceIds.isValid(null));
        RequestRejectedException e = assertThrows(RequestRejectedException.class,
                () -> DeviceIds.checkDeviceId("toy", "a,b"));
        assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT, e.reason());
        assertTrue(e.getMessage().startsWith("toy: invalid device id 'a,b': "), e.getMessage());
        assertTrue(assertThrows(RequestRejectedException.class, () -> DeviceIds.checkIoThreadId("toy", "9"))
                .getMessage().contains("invalid IOThread id '9'"));
    }
}
