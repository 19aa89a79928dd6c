package io.hvspi.tck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.tck.backend.GenericTckBackend;
import io.hvspi.tck.fault.FaultFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestReporter;
import org.junit.jupiter.api.io.TempDir;

/** The kit's cleanup against a plugin whose stop fails or hangs, or whose create hangs. */
class TckKitStopTest {
    @TempDir
    Path work;

    /** The factory of the last kit made. */
    private FaultFactory factory;

    private TckKit kit(FaultFactory.Fault fault) {
        factory = new FaultFactory("fault", fault);
        TckKit kit = new TckKit(new GenericTckBackend(factory, work), c -> CapabilityExpectation.UNSUPPORTED);
        kit.stopTimeout(Duration.ofSeconds(1));
        return kit;
    }

    @AfterEach
    void noVmmIsLeft() {
        // a test that failed must not leave its tails to the next one
        FaultFactory.vmmsUnder(work).forEach(ProcessHandle::destroyForcibly);
    }

    /** Whether no VMM runs under the work directory within 10 s. */
    private boolean vmmsGone() {
        return FaultFactory.vmmsLeftUnder(work, Duration.ofSeconds(10)).isEmpty();
    }

    @Test
    void aStopThatThrowsAnErrorFailsTheTestAndTheKitEndsTheVmm() {
        TckKit kit = kit(FaultFactory.Fault.STOP_SOE);
        Hypervisor vm = kit.startVm(2, IOThreadPolicy.LEAST_LOADED);
        Path dir = work.resolve("run").resolve(vm.vmId());
        AssertionError e = assertThrows(AssertionError.class, kit::stopAll);
        assertTrue(e.getMessage().startsWith("stopping VM '" + vm.vmId() + "' failed: StackOverflowError"), e::getMessage);
        assertTrue(e.getMessage().endsWith("the kit ended its VMM by signal"), e::getMessage);
        assertTrue(vmmsGone(), "the VMM of a VM whose stop failed still runs");
        assertFalse(Files.exists(dir), "its runtime directory is removed once its VMM is gone");
        assertEquals(1, factory.closes.get(), "the handle of a VM whose stop threw was not closed");
    }

    @Test
    void aStopThatHangsIsBoundedAndTheKitEndsTheVmm() {
        TckKit kit = kit(FaultFactory.Fault.STOP_HANG);
        Hypervisor vm = kit.startVm(2, IOThreadPolicy.LEAST_LOADED);
        assertEquals(1, FaultFactory.vmmsUnder(work).size(), "the VM's VMM runs");
        AssertionError e = assertTimeoutPreemptively(Duration.ofSeconds(20),
                () -> assertThrows(AssertionError.class, kit::stopAll), "stopAll waited for a stop that hangs");
        assertTrue(e.getMessage().contains("did not return within 1000 ms"), e::getMessage);
        assertTrue(vmmsGone(), "the VMM of a VM whose stop hung still runs");
        assertEquals(1, factory.closes.get(), "the handle of a VM whose stop hung was not closed");
    }

    @Test
    void disconnectDoesNotAskAHangingPluginForAnIdTheKitKnows() throws InterruptedException {
        TckKit kit = kit(FaultFactory.Fault.VMID_HANG);
        Hypervisor vm = kit.startVm(2, IOThreadPolicy.LEAST_LOADED);
        Thread disconnecting = Thread.ofPlatform().daemon().start(() -> kit.disconnect(vm));
        assertTrue(disconnecting.join(Duration.ofSeconds(20)), "disconnect asked the plugin's vmId(), which hangs");
        assertEquals(1, factory.closes.get(), "disconnect closes the handle");
        // the disconnected VM is reattached and stopped: stopAll is not blocked by anything disconnect began
        assertTimeoutPreemptively(Duration.ofSeconds(20), kit::stopAll, "stopAll blocked behind disconnect");
        assertTrue(vmmsGone(), "the disconnected VM's VMM still runs");
    }

    @Test
    void disconnectClosesTheHandleOfAPluginWhoseVmIdThrows() {
        TckKit kit = kit(FaultFactory.Fault.VMID_THROW);
        Hypervisor vm = kit.startVm(2, IOThreadPolicy.LEAST_LOADED);
        kit.disconnect(vm);
        assertEquals(1, factory.closes.get(), "a vmId() that throws skipped the close");
        kit.stopAll();
        assertTrue(vmmsGone(), "the disconnected VM's VMM still runs");
    }

    @Test
    void aBadStopTimeoutPropertyIsRefusedInOneLine() {
        String before = System.getProperty(TckKit.STOP_TIMEOUT_PROPERTY);
        try {
            for (String bad : List.of("abc", "0", "-1", "1e9", "NaN")) {
                System.setProperty(TckKit.STOP_TIMEOUT_PROPERTY, bad);
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, TckKit::defaultStopTimeout, bad);
                assertEquals("system property hvspi.tck.stopTimeout: '" + bad
                        + "' is not a number of seconds from 0.001 to 86400", e.getMessage());
            }
            System.setProperty(TckKit.STOP_TIMEOUT_PROPERTY, " 2.5 ");
            assertEquals(Duration.ofMillis(2500), TckKit.defaultStopTimeout());
        } finally {
            if (before == null) {
                System.clearProperty(TckKit.STOP_TIMEOUT_PROPERTY);
            } else {
                System.setProperty(TckKit.STOP_TIMEOUT_PROPERTY, before);
            }
        }
    }

    @Test
    void aCreateThatHangsHoldsNoLockOfTheKit() throws InterruptedException {
        FaultFactory factory = new FaultFactory("fault", FaultFactory.Fault.CREATE_HANG);
        TckKit kit = new TckKit(new GenericTckBackend(factory, work), c -> CapabilityExpectation.UNSUPPORTED);
        Thread.ofPlatform().daemon().start(() -> kit.createVm(2, IOThreadPolicy.LEAST_LOADED));
        assertTrue(factory.hanging.await(30, TimeUnit.SECONDS), "create did not begin");
        // the abandoned test thread is inside the plugin's create: cleanup must not wait for it
        assertTimeoutPreemptively(Duration.ofSeconds(10), kit::stopAll, "stopAll blocked on a create that hangs");
        kit.abandon("the deadline passed");
        AssertionError refused = assertThrows(AssertionError.class, () -> kit.startVm(2, IOThreadPolicy.LEAST_LOADED));
        assertEquals("the kit's run was given up: the deadline passed", refused.getMessage());
    }

    @Test
    void aNoteFromAThreadLeftBehindGoesToItsOwnTest() throws InterruptedException {
        TckKit kit = kit(FaultFactory.Fault.NONE);
        List<String> first = new ArrayList<>();
        List<String> second = new ArrayList<>();
        bind(kit, first::add);
        Thread[] late = new Thread[1];
        java.util.concurrent.CountDownLatch secondBound = new java.util.concurrent.CountDownLatch(1);
        // started by the first test, as a test thread abandoned past its timeout is
        late[0] = Thread.ofPlatform().start(() -> {
            try {
                secondBound.await();
            } catch (InterruptedException e) {
                return;
            }
            kit.note(TckKit.PATH_ENTRY, "late");
        });
        bind(kit, second::add);
        secondBound.countDown();
        late[0].join(10_000);
        assertEquals(List.of("late"), first);
        assertEquals(List.of(), second, "a note of an earlier test landed in a later one");
    }

    /** Binds a reporter as the kit's @BeforeEach does. */
    private static void bind(TckKit kit, java.util.function.Consumer<String> values) {
        kit.bind(new TestReporter() {
            @Override
            public void publishEntry(Map<String, String> map) {
                map.values().forEach(values);
            }
        });
    }
}
