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

    private final List<TckKit> kits = new ArrayList<>();

    private TckKit kit(FaultFactory.Fault fault) {
        TckKit kit = new TckKit(new GenericTckBackend(new FaultFactory("fault", fault), work),
                c -> CapabilityExpectation.UNSUPPORTED);
        kit.stopTimeout(Duration.ofSeconds(1));
        kits.add(kit);
        return kit;
    }

    @AfterEach
    void noVmmIsLeft() {
        // a test that failed must not leave its tails to the next one
        FaultFactory.vmmsUnder(work).forEach(ProcessHandle::destroyForcibly);
    }

    private static boolean gone(ProcessHandle p) {
        try {
            p.onExit().get(10, TimeUnit.SECONDS);
            return true;
        } catch (java.util.concurrent.TimeoutException e) {
            return false;
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void aStopThatThrowsAnErrorFailsTheTestAndTheKitEndsTheVmm() {
        TckKit kit = kit(FaultFactory.Fault.STOP_SOE);
        Hypervisor vm = kit.startVm(2, IOThreadPolicy.LEAST_LOADED);
        Path dir = work.resolve("run").resolve(vm.vmId());
        ProcessHandle vmm = ProcessHandle.of(vm.hostThreads().pid()).orElseThrow();
        AssertionError e = assertThrows(AssertionError.class, kit::stopAll);
        assertTrue(e.getMessage().startsWith("stopping VM '" + vm.vmId() + "' failed: StackOverflowError"), e::getMessage);
        assertTrue(e.getMessage().endsWith("the kit ended its VMM by signal"), e::getMessage);
        assertTrue(gone(vmm), "the VMM of a VM whose stop failed still runs");
        assertFalse(Files.exists(dir), "its runtime directory is removed once its VMM is gone");
    }

    @Test
    void aStopThatHangsIsBoundedAndTheKitEndsTheVmm() {
        TckKit kit = kit(FaultFactory.Fault.STOP_HANG);
        Hypervisor vm = kit.startVm(2, IOThreadPolicy.LEAST_LOADED);
        ProcessHandle vmm = ProcessHandle.of(vm.hostThreads().pid()).orElseThrow();
        AssertionError e = assertTimeoutPreemptively(Duration.ofSeconds(20),
                () -> assertThrows(AssertionError.class, kit::stopAll), "stopAll waited for a stop that hangs");
        assertTrue(e.getMessage().contains("did not return within 1000 ms"), e::getMessage);
        assertTrue(gone(vmm), "the VMM of a VM whose stop hung still runs");
    }

    @Test
    void aCreateThatHangsHoldsNoLockOfTheKit() throws InterruptedException {
        FaultFactory factory = new FaultFactory("fault", FaultFactory.Fault.CREATE_HANG);
        TckKit kit = new TckKit(new GenericTckBackend(factory, work), c -> CapabilityExpectation.UNSUPPORTED);
        Thread.ofPlatform().daemon().start(() -> kit.createVm(2, IOThreadPolicy.LEAST_LOADED));
        assertTrue(factory.hanging.await(10, TimeUnit.SECONDS), "create did not begin");
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
