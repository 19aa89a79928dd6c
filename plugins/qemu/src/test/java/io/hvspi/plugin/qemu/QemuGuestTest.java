package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmState;
import io.hvspi.tck.guest.FioResult;
import io.hvspi.tck.guest.GuestConsole;
import io.hvspi.tck.guest.GuestDisk;
import io.hvspi.tck.guest.TestGuest;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The plugin with a real guest (the test guest: Debian kernel, busybox, fio; TCG):
 * hotplug onto IOThreads, a move, and a detach the guest acknowledges, each seen
 * from inside the guest over its serial console. Unlike the guestless tests, no
 * {@code system_reset} is involved: the guest's pciehp answers the unplug.
 */
@Tag("guest")
class QemuGuestTest {
    private static final Duration BOOT = Duration.ofSeconds(120);
    private static final Duration STEP = Duration.ofSeconds(30);

    @TempDir
    Path tmp;

    @Test
    void theGuestSeesDisksAttachMoveAndDetach() throws Exception {
        TestGuest guest = TestGuest.get();
        VmSpec base = TestVms.spec("guest", 2, IOThreadPolicy.LEAST_LOADED);
        VmSpec spec = new VmSpec("guest", "qemu", base.binary(), Optional.of(guest.kernel()),
                Optional.of(guest.initrd()), Optional.empty(), TestGuest.KERNEL_PARAMS, 1, 512, "q35", "tcg",
                base.block(), base.ioThreads(), 4, Map.of());
        DefaultHostContext host = TestVms.host(tmp).withOption(QemuHypervisor.OPTION_START_PAUSED, "true");
        QemuHypervisor vm = (QemuHypervisor) new QemuHypervisorFactory().create(spec, host);
        try {
            vm.start();
            assertEquals(VmState.PAUSED, vm.state(), "start-paused holds the guest until the console listens");
            List<String> events = new CopyOnWriteArrayList<>();
            vm.subscribe(e -> events.add(e.name()));
            Path console = host.stateStore().load("guest").orElseThrow().runtimeDir().resolve("console.sock");
            try (GuestConsole c = GuestConsole.connect(console, STEP,
                    Optional.of(Path.of("target", "qemu-guest-console.log")))) {
                vm.resume();
                c.awaitReady(BOOT);
                DeviceHotplug hotplug = vm.requireHotplug();

                Path image = tmp.resolve("d1.img");
                try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
                    f.setLength(16 << 20);
                }
                hotplug.attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());
                hotplug.attach(BlockDeviceSpec.builder("d1", BlockBackend.path(image)).build());
                GuestDisk d0 = c.awaitDiskAdded("d0", STEP);
                GuestDisk d1 = c.awaitDiskAdded("d1", STEP);
                assertEquals("indep_iothread_0", iothreadOf(vm, "d0"));
                assertEquals("indep_iothread_1", iothreadOf(vm, "d1"));

                hotplug.move("d1", IOThreadChoice.named("indep_iothread_0"));
                c.awaitDiskRemoved(d1.name(), STEP);
                GuestDisk moved = c.awaitDiskAdded("d1", STEP);
                assertEquals("indep_iothread_0", iothreadOf(vm, "d1"));
                FioResult fio = c.fio(List.of(d0.name(), moved.name()), Duration.ofSeconds(1), Map.of(), STEP);
                assertTrue(fio.iops() > 0, "both disks do IO after the move: " + fio);

                hotplug.detach("d0");
                c.awaitDiskRemoved(d0.name(), STEP);
                assertEquals(List.of("d1"), hotplug.list().stream().map(d -> d.id()).toList());
                assertTrue(!events.contains("RESET"), "a guest acknowledges unplugs itself; no reset: " + events);
                assertTrue(events.contains("DEVICE_DELETED"));
                assertTrue(!events.contains(VmEvent.VMM_EXITED));
            }
        } finally {
            vm.stop();
        }
    }

    private static String iothreadOf(QemuHypervisor vm, String deviceId) {
        String path = vm.monitorCommand("qom-get", QmpClient.args().put("path", "/machine/peripheral/" + deviceId)
                .put("property", "iothread")).asText();
        return path.substring(path.lastIndexOf('/') + 1);
    }
}
