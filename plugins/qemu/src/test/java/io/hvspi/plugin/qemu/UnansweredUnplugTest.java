package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.guest.TestGuest;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A detach whose {@code DEVICE_DELETED} never comes: a VM with a guest kernel that stays
 * paused, so nobody answers the PCIe unplug, and hvspi must not reset it (only a
 * guestless VM gets {@code system_reset}). The detach takes the documented timeout path
 * (docs/reliability.md): {@code TIMED_OUT} naming the missing event, the device still in
 * QEMU and in hvspi's list, marked as leaving. On both QEMUs; nothing is booted.
 */
@Tag("guest")
class UnansweredUnplugTest {
    @TempDir
    Path tmp;

    @Test
    void onTheSystemQemu() {
        check(QemuBinary.system());
    }

    @Test
    void onTheOtherQemu() {
        check(QemuBinary.other());
    }

    private void check(QemuBinary qemu) {
        TestGuest guest = TestGuest.get();
        VmSpec spec = TestVms.spec(qemu.path(), "unanswered", 1, IOThreadPolicy.FIRST).toBuilder()
                .kernel(Optional.of(guest.kernel())).initrd(Optional.of(guest.initrd()))
                .kernelParams(TestGuest.KERNEL_PARAMS).build();
        DefaultHostContext host = TestVms.host(tmp).withOption(QemuHypervisor.OPTION_START_PAUSED, "true");
        QemuHypervisor vm = (QemuHypervisor) new QemuHypervisorFactory().create(spec, host);
        List<VmEvent> events = new CopyOnWriteArrayList<>();
        try {
            vm.start();
            vm.subscribe(events::add);
            assertEquals(VmState.PAUSED, vm.state(), "the guest never runs");
            vm.requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());

            VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                    () -> vm.requireHotplug().detach("d0", Duration.ofMillis(800)), "on " + qemu);
            assertEquals(VmmUnavailableException.Reason.TIMED_OUT, e.reason(), e.getMessage());
            assertTrue(e.getMessage().contains("did not report DEVICE_DELETED"), e.getMessage());
            assertTrue(e.getMessage().contains("the unplug stays pending"), e.getMessage());

            Set<String> peripherals = new HashSet<>();
            vm.monitorCommand("qom-list", QmpClient.args().put("path", "/machine/peripheral"))
                    .forEach(c -> peripherals.add(c.path("name").asText()));
            assertTrue(peripherals.contains("d0"), "QEMU still has the device: " + peripherals);
            assertEquals(List.of("d0"), vm.requireHotplug().list().stream().map(BlockDevice::id).toList(),
                    "hvspi still lists it until QEMU reports it gone");
            assertFalse(events.stream().anyMatch(ev -> ev.name().equals("RESET")),
                    "a VM with a guest is never reset to finish an unplug: " + events);
        } finally {
            vm.stop();
        }
    }
}
