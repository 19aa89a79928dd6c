package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.config.KataConfigLoader;
import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.guest.GuestConsole;
import io.hvspi.guest.TestGuest;
import io.hvspi.plugin.qemu.hotplug.HostTaps;
import io.hvspi.spi.NetBackend;
import io.hvspi.spi.NetDevice;
import io.hvspi.spi.NetDeviceSpec;
import io.hvspi.spi.NetworkHotplug;
import io.hvspi.spi.VmSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * NIC hotplug seen from inside the test guest (Debian kernel with virtio_net, busybox;
 * TCG): two NICs on taps hvspi creates, the guest finds both by MAC, sets them up with
 * nothing but their IPv6 link-local addresses and pings the host end of each tap over
 * its own link ({@code fe80::/64}, on-link only; no other address is configured on
 * either side). Unplug: the guest sees the interface go, and the tap is gone.
 */
@Tag("guest")
class NetworkGuestTest {
    private static final Duration BOOT = Duration.ofSeconds(120);
    private static final Duration STEP = Duration.ofSeconds(30);
    private static final String VM_ID = "netguest";

    @TempDir
    Path tmp;

    @Test
    void twoHotpluggedNicsCarryPacketsToTheirTapsAndGoAwayOnUnplug() throws Exception {
        Assumptions.assumeTrue(Path.of("/dev/net/tun").toFile().canWrite(), "needs /dev/net/tun (root)");
        TestGuest guest = TestGuest.get();
        VmSpec spec = KataConfigLoader.load(config(guest)).toVmSpec(VM_ID);
        DefaultHostContext host = TestVms.host(tmp).withOption(QemuHypervisor.OPTION_START_PAUSED, "true");
        QemuHypervisor vm = (QemuHypervisor) new QemuHypervisorFactory().create(spec, host);
        List<String> taps = List.of(tapName(), tapName());
        try {
            vm.start();
            Path socket = host.stateStore().load(VM_ID).orElseThrow().runtimeDir().resolve("console.sock");
            try (GuestConsole console = GuestConsole.connect(socket, STEP,
                    Optional.of(Path.of("target", "network-guest-console.log")))) {
                vm.resume();
                console.awaitReady(BOOT);
                NetworkHotplug net = vm.requireNetworkHotplug();
                NetDevice a = net.attach(NetDeviceSpec.of("net-a", NetBackend.newTap(taps.get(0))));
                NetDevice b = net.attach(NetDeviceSpec.of("net-b", NetBackend.newTap(taps.get(1)))
                        .withMac("52:54:00:00:be:ef"));
                assertNotEquals(a.mac(), b.mac());
                String ethA = console.awaitNicAdded(a.mac(), STEP);
                String ethB = console.awaitNicAdded(b.mac(), STEP);
                assertEquals(a.mac(), console.nics(STEP).get(ethA), "the guest sees the MAC hvspi generated");
                assertEquals("52:54:00:00:be:ef", console.nics(STEP).get(ethB));

                for (int i = 0; i < 2; i++) {
                    String eth = i == 0 ? ethA : ethB;
                    String guestAddress = console.linkUp(eth, STEP);
                    assertTrue(guestAddress.startsWith("fe80:"), guestAddress);
                    String hostAddress = hostLinkLocal(taps.get(i), STEP);
                    console.ping6(eth, hostAddress, STEP);
                    assertEquals(List.of(), globalAddresses(taps.get(i)), "link-local only on the host end");
                }

                net.detach("net-a");
                console.awaitNicRemoved(ethA, STEP);
                assertFalse(HostTaps.exists(taps.get(0)), "the tap hvspi made is gone with its NIC");
                assertFalse(console.nics(STEP).containsKey(ethA));
                assertTrue(console.nics(STEP).containsKey(ethB), "the other NIC stays");
                assertEquals(List.of("net-b"), net.list().stream().map(NetDevice::id).toList());
            }
            vm.stop();
            assertFalse(HostTaps.exists(taps.get(1)), "stop removes the tap hvspi made for the NIC still attached");
        } finally {
            vm.stop();
            taps.forEach(HostTaps::removeQuietly);
        }
    }

    private static String tapName() {
        byte[] b = new byte[4];
        ThreadLocalRandom.current().nextBytes(b);
        return "hvg" + HexFormat.of().formatHex(b);
    }

    /** The tap's link-local address once the host's duplicate address detection is done. */
    private static String hostLinkLocal(String tap, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            for (String line : ip("-6", "-o", "addr", "show", "dev", tap, "scope", "link")) {
                if (!line.contains("tentative")) {
                    String addr = line.replaceFirst(".*inet6 (fe80:[0-9a-f:]+)/64.*", "$1");
                    if (addr.startsWith("fe80:")) {
                        return addr;
                    }
                }
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(100));
        }
        throw new AssertionError("tap " + tap + " got no usable link-local address within " + timeout);
    }

    private static List<String> globalAddresses(String tap) throws IOException, InterruptedException {
        return ip("-6", "-o", "addr", "show", "dev", tap, "scope", "global");
    }

    private static List<String> ip(String... args) throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>(List.of("ip"));
        argv.addAll(List.of(args));
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0, argv + ": " + out);
        return out.lines().filter(l -> !l.isBlank()).toList();
    }

    private Path config(TestGuest guest) throws IOException {
        String toml = """
                [hypervisor.qemu]
                path = '%s'
                kernel = '%s'
                initrd = '%s'
                kernel_params = '%s'
                machine_type = "q35"
                default_vcpus = 1
                default_memory = 512
                accel = "tcg"
                hotplug_slots = 4
                """.formatted(TestVms.QEMU, guest.kernel(), guest.initrd(), TestGuest.KERNEL_PARAMS);
        return Files.writeString(tmp.resolve("configuration.toml"), toml);
    }
}
