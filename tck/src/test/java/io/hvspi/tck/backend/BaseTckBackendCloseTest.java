package io.hvspi.tck.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.VmRecord;
import io.hvspi.tck.fault.FaultFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A backend's close happens once: {@code hvctl compat} closes the backend of a run given up at
 * its deadline while that run's own cleanup may still close it later.
 */
class BaseTckBackendCloseTest {
    @TempDir
    Path tmp;

    /** A backend with one VM whose VMM it cannot end: the first end at close says so; a second would block. */
    static final class Stuck extends BaseTckBackend {
        final AtomicInteger ends = new AtomicInteger();
        final CountDownLatch release = new CountDownLatch(1);

        Stuck(Path workDir) {
            super(new FaultFactory("stuck", FaultFactory.Fault.NONE), workDir);
        }

        @Override
        protected Path binary() {
            return Path.of("stuck");
        }

        @Override
        public String describe() {
            return "stuck";
        }

        @Override
        protected void endAtClose(String vmId) {
            if (ends.incrementAndGet() == 1) {
                throw new IllegalStateException("VMM 4242 of VM '" + vmId + "' still runs after SIGKILL");
            }
            try {
                release.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            throw new IllegalStateException("ended again");
        }
    }

    @Test
    void aSecondCloseChangesNothingAndWhatTheFirstFoundIsKept() throws InterruptedException {
        Stuck backend = new Stuck(tmp.resolve("w"));
        Path runtimeDir = backend.host("vm1").createRuntimeDir("vm1");
        backend.host("vm1").stateStore().save(new VmRecord("vm1", "stuck", 4242, runtimeDir, Instant.now(), "{}"));
        backend.close();
        List<String> left = List.of("VMM 4242 of VM 'vm1' still runs after SIGKILL");
        assertEquals(left, backend.leftRunning());
        // the run given up reaches its own cleanup later
        Thread late = Thread.ofPlatform().daemon().start(backend::close);
        try {
            assertTrue(late.join(Duration.ofSeconds(20)), "a second close did the work again");
            assertEquals(left, backend.leftRunning(), "a second close lost what the first found");
            assertEquals(1, backend.ends.get());
            assertTrue(Files.exists(runtimeDir), "the record of a VMM that still runs is kept");
        } finally {
            backend.release.countDown();
        }
    }

    @Test
    void afterCloseNothingIsMadeOrEndedThroughTheBackend() {
        Path work = tmp.resolve("w");
        GenericTckBackend backend = new GenericTckBackend(new FaultFactory("fault", FaultFactory.Fault.NONE), work);
        backend.close();
        assertFalse(Files.exists(work));
        assertThrows(IllegalStateException.class, () -> backend.host("vm1"));
        assertThrows(IllegalStateException.class, () -> backend.endVm("vm1"));
        assertThrows(IllegalStateException.class, () -> backend.disk("d"));
        assertThrows(IllegalStateException.class, () -> backend.vmSpec("vm1", 2, io.hvspi.spi.IOThreadPolicy.LEAST_LOADED));
        assertFalse(Files.exists(work), "the work directory (or its .locks) was made again after close");
    }

    @Test
    void aClosedSimulatorBackendStartsNoSimulator() {
        AtomicInteger started = new AtomicInteger();
        SimulatorTckBackend backend = new SimulatorTckBackend(new FaultFactory("fault", FaultFactory.Fault.NONE),
                dir -> {
                    started.incrementAndGet();
                    throw new IllegalStateException("no simulator here");
                }, "none", tmp.resolve("w"));
        backend.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> backend.host("vm1"));
        assertTrue(e.getMessage().contains("is closed"), e::getMessage);
        assertEquals(0, started.get(), "a closed backend started a simulator");
    }
}
