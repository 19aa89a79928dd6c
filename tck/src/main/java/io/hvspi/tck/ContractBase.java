package io.hvspi.tck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Capability;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmState;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.TestReporter;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;

/**
 * The base of every contract class: the kit, a VM cleanup after each test, a
 * per-test timeout (a hanging VMM fails its test instead of hanging the run),
 * the assertions the contracts share, and a fixed test order (the report's row order).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
public abstract class ContractBase {
    /** How long the kit waits for a host thread to appear or go. */
    protected static final Duration THREAD_WAIT = Duration.ofSeconds(10);
    /** How long a call running beside another may take before the kit calls it hung (a deadlock). */
    protected static final Duration RACE_DEADLINE = Duration.ofSeconds(60);
    /** Attaches per thread at most while a stop comes: an in-memory VMM may never be cut short. */
    private static final int STOP_RACE_CAP = 200;

    protected final TckKit kit;

    protected ContractBase(TckKit kit) {
        this.kit = Objects.requireNonNull(kit, "kit: create contract classes through HypervisorContract");
    }

    @BeforeEach
    final void bindReporter(TestReporter reporter) {
        kit.bind(reporter);
    }

    /**
     * Bounded twice: each plugin call in it by the kit's stop timeout, and the whole by this
     * (a class's {@code @Timeout} does not reach lifecycle methods).
     */
    @AfterEach
    @Timeout(value = 10, unit = TimeUnit.MINUTES, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    final void stopVms() {
        kit.stopAll();
    }

    /** A disk spec for {@code vm} with the backend's scratch disk; the file name is unique per VM and id. */
    protected BlockDeviceSpec.Builder disk(Hypervisor vm, String id) {
        return disk(vm, id, id);
    }

    /** A disk spec with id {@code id} on the scratch disk {@code file} (for ids that are not file names). */
    protected BlockDeviceSpec.Builder disk(Hypervisor vm, String id, String file) {
        return BlockDeviceSpec.builder(id, kit.backend().disk(vm.vmId() + "-" + file));
    }

    /** The hotplug view; a VM with the capability but no view aborts the test (one root cause, reported once). */
    protected static DeviceHotplug hotplug(Hypervisor vm) {
        TckKit.assumeViewFollows(vm, Capability.BLOCK_DEVICE_HOTPLUG);
        return vm.requireHotplug();
    }

    /** The IOThread pool view; a VM with the capability but no view aborts the test (one root cause, reported once). */
    protected static IOThreadProvider pool(Hypervisor vm) {
        TckKit.assumeViewFollows(vm, Capability.INDEPENDENT_IOTHREADS);
        return vm.requireIoThreads();
    }

    /** The pool's IOThreads (not the controllers'), in creation order. */
    protected static List<IOThreadInfo> poolThreads(Hypervisor vm) {
        return pool(vm).list().stream().filter(t -> t.kind() == IOThreadInfo.Kind.POOL).toList();
    }

    protected static List<String> poolIds(Hypervisor vm) {
        return poolThreads(vm).stream().map(IOThreadInfo::id).toList();
    }

    /** The pool IOThread {@code id}, as listed now. */
    protected static IOThreadInfo thread(Hypervisor vm, String id) {
        return pool(vm).list().stream().filter(t -> t.id().equals(id)).findFirst()
                .orElseThrow(() -> new AssertionError("IOThread '" + id + "' is not listed: " + pool(vm).list()));
    }

    protected static List<String> deviceIds(Hypervisor vm) {
        return hotplug(vm).list().stream().map(d -> d.id()).toList();
    }

    /**
     * Asserts {@code op} is refused with {@code reason}, in one line, and returns the error.
     */
    protected static RequestRejectedException assertRejected(RequestRejectedException.Reason reason, Executable op,
                                                             String what) {
        RequestRejectedException e = assertThrows(RequestRejectedException.class, op,
                () -> what + " must be refused with RequestRejectedException (" + reason + ")");
        assertEquals(reason, e.reason(), () -> what + ": wrong reason in: " + e.getMessage());
        assertOneLine(e);
        return e;
    }

    /**
     * Waits for a call run on another thread: empty when it returned, what it threw otherwise;
     * fails the test when it does not return within {@link #RACE_DEADLINE}.
     */
    protected static Optional<Throwable> failureOf(Future<?> call, String what) throws InterruptedException {
        try {
            call.get(RACE_DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            return Optional.empty();
        } catch (ExecutionException e) {
            return Optional.of(e.getCause());
        } catch (TimeoutException e) {
            throw new AssertionError(what + " did not return within " + RACE_DEADLINE.toSeconds()
                    + " s while another call ran beside it: a deadlock in the plugin?");
        }
    }

    /** True when the attach returned, false when it was refused with {@code DUPLICATE_ID}; fails otherwise. */
    protected static boolean attachedOrDuplicate(Future<?> attach, String what) throws InterruptedException {
        Optional<Throwable> failure = failureOf(attach, what);
        failure.ifPresent(f -> {
            RequestRejectedException refused = assertInstanceOf(RequestRejectedException.class, f,
                    () -> what + ", when another attach took its id first, must be refused, not fail with " + f);
            assertEquals(RequestRejectedException.Reason.DUPLICATE_ID, refused.reason(), () -> what + ": " + refused);
        });
        return failure.isEmpty();
    }

    /**
     * Attaches devices on two threads ({@code prefix<thread>-<n>}, through {@code attach}) until
     * the VM's stop, made once one attach returned, cuts them short. Asserts that the stop
     * succeeds, that each attach it cut short fails with an {@link HvspiException} (not another
     * exception: a bug), and that nothing of the VM is left: no record, no runtime directory (an
     * attach that fails after the stop must not save the VM again).
     */
    protected void assertStopCutsAttachesShort(Hypervisor vm, String prefix, Consumer<String> attach)
            throws InterruptedException {
        VmRecord record = kit.backend().host(vm.vmId()).stateStore().load(vm.vmId()).orElseThrow();
        CountDownLatch oneAttached = new CountDownLatch(1);
        ExecutorService threads = Executors.newFixedThreadPool(3);
        try {
            List<Future<?>> attaching = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                String ids = prefix + t + "-";
                attaching.add(threads.submit(() -> {
                    for (int n = 0; n < STOP_RACE_CAP; n++) {
                        attach.accept(ids + n);
                        oneAttached.countDown();
                    }
                }));
            }
            assertTrue(oneAttached.await(RACE_DEADLINE.toMillis(), TimeUnit.MILLISECONDS),
                    "no attach returned within " + RACE_DEADLINE.toSeconds() + " s");
            Future<?> stop = threads.submit(vm::stop);
            assertEquals(Optional.empty(), failureOf(stop, "stop"), "stop while attaches run must succeed");
            for (Future<?> f : attaching) {
                failureOf(f, "an attach running while the VM stopped").ifPresent(e -> assertInstanceOf(
                        HvspiException.class, e, () -> "an attach that stop cut short must fail with an "
                                + "HvspiException (the VM stopped), not " + e));
            }
        } finally {
            threads.shutdownNow();
        }
        assertEquals(VmState.STOPPED, vm.state());
        assertTrue(kit.backend().host(vm.vmId()).stateStore().load(vm.vmId()).isEmpty(),
                "an attach that ended after stop must not record the VM again");
        assertFalse(Files.exists(record.runtimeDir()),
                () -> "an attach that ended after stop must not make " + record.runtimeDir() + " again");
    }

    /** Errors are one line that says what was wrong. */
    protected static void assertOneLine(Throwable e) {
        String m = e.getMessage();
        assertTrue(m != null && !m.isBlank(), () -> e.getClass().getSimpleName() + " without a message");
        assertFalse(m.contains("\n"), () -> "an error message must be one line: " + m);
    }

    /**
     * A thread the plugin reports must exist in the VMM's process, under the name
     * the host gives it, when the VMM is a real process.
     */
    protected void assertRealThread(long pid, long tid, String what) {
        assertTrue(tid > 0, () -> what + ": host thread id must be positive, got " + tid);
        if (kit.backend().realHostThreads()) {
            assertTrue(HostProc.threadExists(pid, tid),
                    () -> what + ": thread " + tid + " is not under " + HostProc.task(pid, tid).getParent());
        }
    }

    /** Asserts the thread's reported name is its {@code comm}, for a real VMM. */
    protected void assertRealName(long pid, HostThreads.HostThread t) {
        assertRealThread(pid, t.tid(), "thread '" + t.name() + "'");
        if (kit.backend().realHostThreads()) {
            HostProc.comm(pid, t.tid()).ifPresent(comm -> assertEquals(comm, t.name(),
                    () -> "thread " + t.tid() + " must be reported under its host name (comm)"));
        }
    }

    /** Waits until the thread is gone from a real VMM (a removed IOThread or queue worker). */
    protected void assertThreadGone(long pid, long tid, String what) {
        if (kit.backend().realHostThreads()) {
            assertTrue(HostProc.await(() -> !HostProc.threadExists(pid, tid), THREAD_WAIT),
                    () -> what + ": thread " + tid + " still exists after " + THREAD_WAIT.toSeconds() + " s");
        }
    }
}
