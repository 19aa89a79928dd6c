package io.hvspi.kit.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.RequestRejectedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
        // a taken MAC as a caller wrote it, in capitals, is taken all the same
        Iterator<String> again = List.of("02:aa:00:00:00:01", "02:aa:00:00:00:02").iterator();
        assertEquals("02:aa:00:00:00:02", MacAddresses.generate(Set.of("02:AA:00:00:00:01"), again::next));
    }

    @Test
    void hostMacsAreReadAgainOnceTheLastReadingIsASecondOld(@TempDir Path sysNet) throws Exception {
        AtomicReference<MacAddresses.HostMacs> last = new AtomicReference<>(MacAddresses.HostMacs.NONE);
        Files.createDirectories(sysNet.resolve("eth0"));
        Files.writeString(sysNet.resolve("eth0/address"), "52:54:00:AA:BB:01\n");
        Files.createDirectories(sysNet.resolve("bond0")); // no address file: nothing to avoid
        long t = 5_000_000_000L;
        assertEquals(Set.of("52:54:00:aa:bb:01"), MacAddresses.hostMacs(sysNet, last, t));

        Files.createDirectories(sysNet.resolve("tap0"));
        Files.writeString(sysNet.resolve("tap0/address"), "02:00:00:00:00:07\n");
        long fresh = t + MacAddresses.HOST_MACS_FRESH_NANOS - 1;
        assertEquals(Set.of("52:54:00:aa:bb:01"), MacAddresses.hostMacs(sysNet, last, fresh),
                "within a second: the last reading, not one sysfs read per interface");

        long stale = t + MacAddresses.HOST_MACS_FRESH_NANOS;
        assertEquals(Set.of("52:54:00:aa:bb:01", "02:00:00:00:00:07"), MacAddresses.hostMacs(sysNet, last, stale));
        assertEquals(Set.of(), MacAddresses.hostMacs(sysNet.resolve("absent"), new AtomicReference<>(
                MacAddresses.HostMacs.NONE), Long.MIN_VALUE), "no sysfs: nothing to avoid, even at the clock's start");
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
