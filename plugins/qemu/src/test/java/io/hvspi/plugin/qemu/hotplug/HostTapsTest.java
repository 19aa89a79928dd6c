package io.hvspi.plugin.qemu.hotplug;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Removal touches tun/tap devices only: a tap name comes from the VM's record, and a tampered record
 * naming {@code eth0} or a bridge must not take it down. Real interfaces (needs root).
 */
class HostTapsTest {
    private static String name() {
        byte[] b = new byte[4];
        ThreadLocalRandom.current().nextBytes(b);
        return "hvt" + HexFormat.of().formatHex(b);
    }

    private static void ip(String... args) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(List.of(args)).inheritIO().start();
        assertEquals(0, p.waitFor(), String.join(" ", args));
    }

    @Test
    void aTapIsRemovedAndAnInterfaceOfAnotherKindIsLeftAlone() throws Exception {
        Assumptions.assumeTrue(Path.of("/dev/net/tun").toFile().canWrite(), "needs /dev/net/tun (root)");
        String tap = name();
        HostTaps.create(tap, 1);
        assertTrue(HostTaps.isTap(tap));
        HostTaps.remove(tap);
        assertFalse(HostTaps.exists(tap), "the tap hvspi made is removed");

        String veth = name();
        ip("ip", "link", "add", "name", veth, "type", "veth", "peer", "name", veth + "p");
        try {
            HostTaps.remove(veth);
            HostTaps.removeQuietly("lo");
            assertTrue(HostTaps.exists(veth), "a veth named by a record is not a tap: it stays");
            assertTrue(HostTaps.exists("lo"));
            HostTaps.remove("../" + veth); // a name that is a path is no interface
            assertTrue(HostTaps.exists(veth));
        } finally {
            ip("ip", "link", "del", "dev", veth);
        }
    }
}
