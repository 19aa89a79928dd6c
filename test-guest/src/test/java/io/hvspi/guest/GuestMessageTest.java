package io.hvspi.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class GuestMessageTest {

    @Test
    void wordsSplitIntoArgumentsAndFields() {
        GuestMessage m = GuestMessage.parse("HVSPI DISK-ADDED vdb serial= size=1048576").orElseThrow();
        assertEquals("DISK-ADDED", m.verb());
        assertEquals(List.of("vdb"), m.args());
        assertEquals(Map.of("serial", "", "size", "1048576"), m.fields());
    }

    @Test
    void errorKeepsItsFreeText() {
        GuestMessage m = GuestMessage.parse("HVSPI ERROR fio unsupported option 'x=1' (rw bs)").orElseThrow();
        assertTrue(m.isErrorFor("fio"));
        assertFalse(m.isErrorFor("read"));
        assertEquals("fio unsupported option 'x=1' (rw bs)", m.text());
        assertEquals("HVSPI ERROR fio unsupported option 'x=1' (rw bs)", m.toString());
    }

    @Test
    void linesWithoutThePrefixAreNoise() {
        assertEquals(Optional.empty(), GuestMessage.parse("[    1.2] virtio_blk virtio0: [vda] 2048 512-byte logical blocks"));
        assertEquals(Optional.empty(), GuestMessage.parse("HVSPI "));
        assertEquals(Optional.empty(), GuestMessage.parse("HVSPIREADY"));
    }

    @Test
    void verbAloneHasNoArguments() {
        GuestMessage m = GuestMessage.parse("HVSPI DISKS").orElseThrow();
        assertEquals(List.of(), m.args());
        assertEquals(Map.of(), m.fields());
    }
}
