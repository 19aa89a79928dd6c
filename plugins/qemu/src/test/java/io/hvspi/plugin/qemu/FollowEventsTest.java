package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Following a VM through its second QMP monitor while the VM's owner keeps its own
 * connection (the cross-process case is hvctl's VmEventsIT).
 */
class FollowEventsTest {
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path tmp;

    private final QemuHypervisorFactory factory = new QemuHypervisorFactory();

    @Test
    void followerSeesTheOwnersChangesAndTheExitWhileTheOwnerKeepsWorking() throws Exception {
        DefaultHostContext host = TestVms.host(tmp);
        Hypervisor vm = factory.create(TestVms.spec("followed", 0, IOThreadPolicy.ROUND_ROBIN), host);
        vm.start();
        try {
            VmRecord record = host.stateStore().load("followed").orElseThrow();
            LinkedBlockingQueue<VmEvent> seen = new LinkedBlockingQueue<>();
            try (Hypervisor.Subscription follower = factory.follow(record, host, seen::add)) {
                // the owner's connection still answers, and what it does shows to the follower
                vm.requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());
                // hvspi's own event, from the journal: QEMU has none for a device added
                VmEvent attached = next(seen, "DEVICE_ATTACHED", Map.of("device", "d0"));
                assertEquals("virtio-blk-pci", attached.data().get("driver"), attached.toString());
                vm.requireHotplug().detach("d0", WAIT);
                // QEMU's DEVICE_DELETED and hvspi's DEVICE_DETACHED come from two sources: in either order
                List<VmEvent> gone = new java.util.ArrayList<>();
                gone.add(next(seen, Set.of("DEVICE_DELETED", "DEVICE_DETACHED"), Map.of("device", "d0")));
                gone.add(next(seen, Set.of("DEVICE_DELETED", "DEVICE_DETACHED"), Map.of("device", "d0")));
                assertEquals(Set.of("DEVICE_DELETED", "DEVICE_DETACHED"),
                        Set.copyOf(gone.stream().map(VmEvent::name).toList()), gone.toString());
                assertTrue(gone.get(0).timestamp().isAfter(attached.timestamp()), gone.toString());

                vm.stop();
                next(seen, "SHUTDOWN", Map.of());
                VmEvent exited = next(seen, VmEvent.VMM_EXITED, Map.of());
                assertNotNull(exited.data().get("reason"), exited.toString());
            }
        } finally {
            vm.stop();
        }
    }

    @Test
    void aSecondFollowerIsToldTheEventsAreTaken() {
        DefaultHostContext host = TestVms.host(tmp);
        Hypervisor vm = factory.create(TestVms.spec("taken", 0, IOThreadPolicy.ROUND_ROBIN), host);
        vm.start();
        try {
            VmRecord record = host.stateStore().load("taken").orElseThrow();
            try (Hypervisor.Subscription first = factory.follow(record, host, e -> { })) {
                DefaultHostContext impatient = new DefaultHostContext(host.runtimeRoot(), Duration.ofMillis(500),
                        Map.of());
                VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                        () -> factory.follow(record, impatient, ev -> { }));
                assertTrue(e.getMessage().contains("already followed by another client"), e.getMessage());
            }
        } finally {
            vm.stop();
        }
    }

    @Test
    void followingAVmWhoseQemuIsGoneFailsAsExited() {
        DefaultHostContext host = TestVms.host(tmp);
        Hypervisor vm = factory.create(TestVms.spec("gone", 0, IOThreadPolicy.ROUND_ROBIN), host);
        vm.start();
        VmRecord record = host.stateStore().load("gone").orElseThrow();
        ProcessHandle qemu = ProcessHandle.of(record.pid()).orElseThrow();
        qemu.destroyForcibly();
        qemu.onExit().join();
        try {
            VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                    () -> factory.follow(record, host, ev -> { }));
            assertEquals(VmmUnavailableException.Reason.EXITED, e.reason());
        } finally {
            vm.stop();
        }
    }

    @Test
    void logFilesAreTheQemuAndConsoleLogsOfTheRuntimeDirectory() {
        VmRecord record = new VmRecord("x", "qemu", 1, tmp.resolve("x"), java.time.Instant.now(), "{}");
        assertEquals(Map.of("vmm", tmp.resolve("x/qemu.log"), "console", tmp.resolve("x/console.log")),
                factory.logFiles(record));
    }

    /** The next event of that name whose data holds {@code data}; earlier other events are skipped. */
    private static VmEvent next(LinkedBlockingQueue<VmEvent> seen, String name, Map<String, Object> data)
            throws InterruptedException {
        return next(seen, Set.of(name), data);
    }

    /** The next event of one of these names whose data holds {@code data}; earlier other events are skipped. */
    private static VmEvent next(LinkedBlockingQueue<VmEvent> seen, Set<String> names, Map<String, Object> data)
            throws InterruptedException {
        String name = names.toString();
        long deadline = System.nanoTime() + WAIT.toNanos();
        List<String> skipped = new java.util.ArrayList<>();
        while (true) {
            VmEvent e = seen.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
            if (e == null) {
                throw new AssertionError("no " + name + " " + data + " within " + WAIT + "; saw " + skipped);
            }
            if (names.contains(e.name()) && e.data().entrySet().containsAll(data.entrySet())) {
                return e;
            }
            skipped.add(e.name());
        }
    }
}
