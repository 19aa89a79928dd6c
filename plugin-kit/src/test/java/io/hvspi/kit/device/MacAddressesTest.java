package io.hvspi.kit.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.RequestRejectedException;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class MacAddressesTest {
    @Test
    void generatedMacsAreLocallyAdministeredUnicastAndDistinct() {
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < 2000; i++) {
            String mac = MacAddresses.generate(seen);
            assertTrue(MacAddresses.MAC.matcher(mac).matches(), mac);
            assertTrue(MacAddresses.isLocalUnicast(mac), mac);
            assertEquals(mac, mac.toLowerCase());
            assertTrue(seen.add(mac), "repeated " + mac);
        }
    }

    @Test
    void skipsTakenAndHostMacs() {
        Set<String> host = MacAddresses.hostMacs();
        String hostMac = host.stream().filter(m -> !m.equals("00:00:00:00:00:00")).findFirst().orElse(null);
        List<String> candidates = hostMac == null
                ? List.of("02:00:00:00:00:01", "02:00:00:00:00:02")
                : List.of(hostMac, "02:00:00:00:00:01", "02:00:00:00:00:02");
        Iterator<String> source = candidates.iterator();
        String mac = MacAddresses.generate(Set.of("02:00:00:00:00:01"), source::next);
        assertEquals("02:00:00:00:00:02", mac);
    }

    @Test
    void aRepeatingSourceIsAnErrorNotALoop() {
        assertThrows(IllegalStateException.class,
                () -> MacAddresses.generate(Set.of("02:00:00:00:00:01"), () -> "02:00:00:00:00:01"));
    }

    @Test
    void checkNormalisesAndRefusesMulticastZeroAndJunk() {
        assertEquals("52:54:00:ab:cd:ef", MacAddresses.check("toy", "52:54:00:AB:CD:EF"));
        for (String bad : new String[] {"", "52:54:00:ab:cd", "52-54-00-ab-cd-ef", "01:00:5e:00:00:01",
                                        "00:00:00:00:00:00", "52:54:00:ab:cd:ef,x=1"}) {
            RequestRejectedException e = assertThrows(RequestRejectedException.class,
                    () -> MacAddresses.check("toy", bad), bad);
            assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT, e.reason());
            assertTrue(e.getMessage().startsWith("toy: "), e.getMessage());
        }
        assertFalse(MacAddresses.isLocalUnicast("52:54:00:12:34:56".replace("52", "50")));
        assertNotEquals(MacAddresses.randomMac(), MacAddresses.randomMac());
    }
}
