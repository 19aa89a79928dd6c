package io.hvspi.tck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hvspi.core.plugin.PluginCall;
import io.hvspi.core.plugin.SpiDefaults;
import io.hvspi.spi.Capability;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmRecord;
import io.hvspi.tck.backend.TckBackend;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.TestReporter;
import org.junit.jupiter.api.function.Executable;

/**
 * What the contract classes share for one plugin: its backend, its test's
 * capability decisions, the VMs made so far (all stopped after each test), and
 * the notes each test leaves for the compatibility report.
 */
public final class TckKit implements AutoCloseable {
    /** Report entry: which branch a capability-guarded test took ({@code supported} or {@code unsupported:<key>}). */
    public static final String PATH_ENTRY = "hvspi.path";
    /** Report entry: a VM's effective capabilities, as comma-separated keys. */
    public static final String EFFECTIVE_ENTRY = "hvspi.effective";

    /** The contract test that fails when a view does not follow its capability (the root cause). */
    public static final String VIEW_TEST = "declaration.viewsFollowTheirCapability";

    /** The capabilities that come with a view on {@link Hypervisor}. */
    private static final Set<Capability> VIEWS = EnumSet.of(Capability.INDEPENDENT_IOTHREADS, Capability.BLOCK_DEVICE_HOTPLUG,
            Capability.NETWORK_DEVICE_HOTPLUG);

    private static final AtomicInteger VM_SEQUENCE = new AtomicInteger();

    /**
     * How long a plugin's stop (or close) of one VM may take at cleanup before the kit ends the VMM
     * itself, unless {@value #STOP_TIMEOUT_PROPERTY} says otherwise ({@link #defaultStopTimeout()}).
     */
    public static final Duration DEFAULT_STOP_TIMEOUT = Duration.ofSeconds(30);
    /** The system property that sets the stop timeout, in seconds (fractions allowed, 0.001 to 86400). */
    public static final String STOP_TIMEOUT_PROPERTY = "hvspi.tck.stopTimeout";

    /**
     * The stop timeout a new kit gets: the seconds in {@value #STOP_TIMEOUT_PROPERTY}, else
     * {@link #DEFAULT_STOP_TIMEOUT}.
     *
     * @throws IllegalArgumentException one line, when the property is not a number of seconds in range:
     *         a typo must not silently give back the default
     */
    public static Duration defaultStopTimeout() {
        String p = System.getProperty(STOP_TIMEOUT_PROPERTY);
        if (p == null) {
            return DEFAULT_STOP_TIMEOUT;
        }
        double s;
        try {
            s = Double.parseDouble(p.strip());
        } catch (NumberFormatException e) {
            s = Double.NaN;
        }
        if (!(s >= 0.001 && s <= 86_400)) {
            throw new IllegalArgumentException("system property " + STOP_TIMEOUT_PROPERTY + ": '" + p
                    + "' is not a number of seconds from 0.001 to 86400");
        }
        return Duration.ofMillis((long) (s * 1000));
    }

    private final TckBackend backend;
    private final Function<Capability, CapabilityExpectation> expectations;
    /** Guards {@link #vms} and {@link #disconnected} only: never held while plugin code runs. */
    private final Object lock = new Object();
    /** The VMs to stop, each with the id the kit gave it (asking the plugin is plugin code). */
    private final List<Tracked> vms = new ArrayList<>();
    private final List<Tracked> disconnected = new ArrayList<>();
    /**
     * The reporter of the test running on this thread, inherited by the threads it starts (the
     * test's own, under a separate-thread timeout): a test thread abandoned past its timeout
     * still reports to its own test, never to a later one.
     */
    private final InheritableThreadLocal<TestReporter> reporter = new InheritableThreadLocal<>();
    private volatile Duration stopTimeout;
    private volatile String abandoned;

    private record Tracked(String vmId, Hypervisor vm) {}

    public TckKit(TckBackend backend, Function<Capability, CapabilityExpectation> expectations) {
        this.backend = Objects.requireNonNull(backend, "backend");
        this.expectations = Objects.requireNonNull(expectations, "expectations");
        this.stopTimeout = defaultStopTimeout();
    }

    public TckBackend backend() {
        return backend;
    }

    /** The bound on a plugin's stop of one VM at cleanup (default {@link #defaultStopTimeout()}). */
    public void stopTimeout(Duration timeout) {
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("stop timeout must be positive: " + timeout);
        }
        this.stopTimeout = timeout;
    }

    /**
     * Gives the run up (its deadline passed): from now on every VM the kit is asked for fails
     * the test at once with {@code reason}, so a run left behind makes no more VMs.
     */
    public void abandon(String reason) {
        this.abandoned = Objects.requireNonNull(reason, "reason");
    }

    /** Why the run was given up, if it was. */
    public Optional<String> abandonedReason() {
        return Optional.ofNullable(abandoned);
    }

    private void checkNotAbandoned() {
        String reason = abandoned;
        if (reason != null) {
            throw new AssertionError("the kit's run was given up: " + reason);
        }
    }

    /** The capability decision for {@code c}. */
    public CapabilityExpectation expectation(Capability c) {
        return Objects.requireNonNull(expectations.apply(c), () -> "no expectation for " + c);
    }

    /** The plugin's type. */
    public String type() {
        return backend.type();
    }

    /** A fresh VM id: a letter first, unique in this JVM. */
    public String newVmId() {
        return "tck" + VM_SEQUENCE.incrementAndGet();
    }

    /** A created, not started, VM; stopped after the test. */
    public Hypervisor createVm(int poolSize, IOThreadPolicy policy) {
        checkNotAbandoned();
        String vmId = newVmId();
        Hypervisor vm = backend.factory().create(backend.vmSpec(vmId, poolSize, policy), backend.host(vmId));
        track(vmId, vm);
        return vm;
    }

    /** A started VM; stopped after the test. */
    public Hypervisor startVm(int poolSize, IOThreadPolicy policy) {
        Hypervisor vm = createVm(poolSize, policy);
        checkNotAbandoned();
        vm.start();
        return vm;
    }

    /** A started VM with a pool of two and the default policy. */
    public Hypervisor startVm() {
        return startVm(2, IOThreadPolicy.LEAST_LOADED);
    }

    /** Reattaches to a started VM through its state record, as a new process would; stopped after the test. */
    public Hypervisor reattach(Hypervisor vm) {
        checkNotAbandoned();
        String vmId = idOf(vm);
        VmRecord record = backend.host(vmId).stateStore().load(vmId)
                .orElseThrow(() -> new AssertionError("VM '" + vmId + "' has no state record after start"));
        Hypervisor again = backend.factory().reattach(record, backend.host(vmId));
        track(vmId, again);
        return again;
    }

    /** The state record of the started VM {@code vm}, as the host keeps it. */
    public VmRecord record(Hypervisor vm) {
        String vmId = idOf(vm);
        return backend.host(vmId).stateStore().load(vmId)
                .orElseThrow(() -> new AssertionError("VM '" + vmId + "' has no state record after start"));
    }

    /**
     * Reattaches through a record the test kept (the VM may be gone: the caller expects a refusal);
     * a handle the plugin returns anyway is stopped after the test like any other.
     */
    public Hypervisor reattach(VmRecord record) {
        checkNotAbandoned();
        Hypervisor again = backend.factory().reattach(record, backend.host(record.vmId()));
        track(record.vmId(), again);
        return again;
    }

    /** Closes {@code vm} (disconnects; the VM keeps running) and stops tracking this handle. */
    public void disconnect(Hypervisor vm) {
        try {
            // the kit's own id where it has one; the plugin's answer (plugin code) only for a handle the
            // kit did not make, and never under the lock: a vmId() that hangs must not block stopAll
            String vmId = idOf(vm);
            synchronized (lock) {
                Tracked t = vms.stream().filter(x -> x.vm() == vm).findFirst().orElseGet(() -> new Tracked(vmId, vm));
                vms.remove(t);
                disconnected.add(t);
            }
        } finally {
            // a vmId() that throws must not keep the handle open
            vm.close();
        }
    }

    private void track(String vmId, Hypervisor vm) {
        synchronized (lock) {
            vms.add(new Tracked(vmId, vm));
        }
    }

    /** The id the kit gave {@code vm}, else the plugin's answer. */
    private String idOf(Hypervisor vm) {
        synchronized (lock) {
            for (Tracked t : vms) {
                if (t.vm() == vm) {
                    return t.vmId();
                }
            }
        }
        return vm.vmId();
    }

    /**
     * The capability guard. When {@code vm} has {@code c}, notes it and returns
     * true: the caller goes on to check that the operation works. Otherwise
     * asserts that {@code attempt} fails with {@link UnsupportedCapabilityException}
     * naming {@code c} (or a missing view {@code c} is reached through) and
     * {@code vm}'s type, notes it and returns false. A wrong declaration fails
     * either way.
     */
    public boolean supports(Hypervisor vm, Capability c, Executable attempt) {
        Optional<String> skip = backend.skipReason(c, vm);
        assumeTrue(skip.isEmpty(), () -> skip.orElse(""));
        for (Capability view : VIEWS) {
            if (view == c || CapabilityRules.reachedThrough(c).contains(view)) {
                assumeViewFollows(vm, view);
            }
        }
        if (vm.capabilities().contains(c)) {
            note(PATH_ENTRY, "supported");
            return true;
        }
        UnsupportedCapabilityException e = assertThrows(UnsupportedCapabilityException.class, attempt,
                () -> "hypervisor '" + vm.type() + "' does not have capability " + c.key()
                        + ", so this operation must fail with UnsupportedCapabilityException");
        assertNamesMissingCapability(vm, c, e);
        note(PATH_ENTRY, "unsupported:" + e.capability().key());
        return false;
    }

    /**
     * Aborts the test when {@code vm}'s view for {@code view} (a capability with a
     * view: {@code ioThreads()} or {@code hotplug()}) is present without the
     * capability or missing with it. That mistake is one root cause, failed once
     * by the declaration contract's {@value #VIEW_TEST}; every test that goes
     * through the view is skipped with a pointer to it instead of failing too.
     */
    public static void assumeViewFollows(Hypervisor vm, Capability view) {
        boolean present = switch (view) {
            case INDEPENDENT_IOTHREADS -> vm.ioThreads().isPresent();
            case BLOCK_DEVICE_HOTPLUG -> vm.hotplug().isPresent();
            case NETWORK_DEVICE_HOTPLUG -> vm.networkHotplug().isPresent();
            default -> throw new IllegalArgumentException(view.key() + " has no view");
        };
        boolean has = vm.supports(view);
        assumeTrue(has == present, () -> "the VM " + (has ? "has" : "lacks") + " " + view.key() + " but its "
                + viewName(view) + " view is " + (present ? "present" : "missing") + "; see the failure of " + VIEW_TEST);
    }

    /** The accessor on {@link Hypervisor} for a capability with a view. */
    public static String viewName(Capability view) {
        return switch (view) {
            case INDEPENDENT_IOTHREADS -> "ioThreads()";
            case BLOCK_DEVICE_HOTPLUG -> "hotplug()";
            case NETWORK_DEVICE_HOTPLUG -> "networkHotplug()";
            default -> throw new IllegalArgumentException(view.key() + " has no view");
        };
    }

    /** Checks that {@code e} names {@code c} (or a view it is reached through that {@code vm} lacks) and {@code vm}'s type. */
    public void assertNamesMissingCapability(Hypervisor vm, Capability c, UnsupportedCapabilityException thrown) {
        // an SPI default method (IOThreadProvider.pin on a plugin written against SPI 1.0) cannot know the
        // VM's type; the host's guard names the plugin there, and so does the kit (docs/spi-versioning.md)
        UnsupportedCapabilityException e = SpiDefaults.naming(thrown, vm.type());
        Set<Capability> acceptable = EnumSet.of(c);
        CapabilityRules.reachedThrough(c).stream().filter(r -> !vm.supports(r)).forEach(acceptable::add);
        assertTrue(acceptable.contains(e.capability()), () -> "the unsupported error names " + e.capability().key()
                + ", expected " + acceptable.stream().map(Capability::key).collect(Collectors.joining(" or "))
                + ": " + e.getMessage());
        assertEquals(vm.type(), e.hypervisorType(), () -> "the unsupported error names the wrong hypervisor: "
                + e.getMessage());
        assertTrue(e.getMessage().contains(vm.type()) && e.getMessage().contains(e.capability().key()),
                () -> "the unsupported error's message must name the hypervisor and the capability: " + e.getMessage());
    }

    /** Leaves a note for the compatibility report (a JUnit report entry). */
    public void note(String key, String value) {
        TestReporter r = reporter.get();
        if (r != null) {
            r.publishEntry(key, value);
        }
    }

    void bind(TestReporter testReporter) {
        reporter.set(testReporter);
    }

    /**
     * Stops every VM made since the last call, collecting failures so that one
     * bad VM does not leak the others. A VM left disconnected (its reattach
     * failed) is reattached once more and stopped, best effort.
     *
     * <p>Each plugin call runs on a thread of its own, bounded by the stop timeout, and
     * no lock of the kit is held meanwhile. When the plugin's stop throws (anything, an
     * {@code Error} too) or does not return, the kit ends the VM itself
     * ({@link TckBackend#endVm}: the VMM found through its record and {@code /proc} is
     * signalled, then its record and directory go), and the test fails with the plugin's failure.
     */
    public void stopAll() {
        List<Tracked> mine;
        List<Tracked> orphans;
        synchronized (lock) {
            mine = new ArrayList<>(vms.reversed());
            orphans = new ArrayList<>(disconnected);
            vms.clear();
            disconnected.clear();
        }
        AssertionError failure = null;
        Set<String> done = new HashSet<>();
        for (Tracked t : mine) {
            if (done.contains(t.vmId())) {
                // an earlier handle of this VM failed to stop and the kit ended the VM: nothing is left to stop
                bounded("close of VM '" + t.vmId() + "'", t.vm()::close);
                continue;
            }
            Optional<String> stopFailed = bounded("stop of VM '" + t.vmId() + "'", t.vm()::stop);
            if (stopFailed.isEmpty()) {
                bounded("close of VM '" + t.vmId() + "'", t.vm()::close);
                continue;
            }
            done.add(t.vmId());
            failure = first(failure, new AssertionError("stopping VM '" + t.vmId() + "' failed: " + stopFailed.get()
                    + "; " + endWithoutPlugin(t.vmId())));
            // the handle still holds what the plugin opened for it (for QEMU a QMP session and its threads)
            bounded("close of VM '" + t.vmId() + "'", t.vm()::close);
        }
        Set<String> stopped = new HashSet<>();
        mine.forEach(t -> stopped.add(t.vmId()));
        for (Tracked t : orphans) {
            if (!stopped.contains(t.vmId())) {
                stopOrphan(t.vmId());
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    private static AssertionError first(AssertionError failure, AssertionError next) {
        if (failure == null) {
            return next;
        }
        failure.addSuppressed(next);
        return failure;
    }

    /** Ends the VM through the backend, and says how that went, for the failure message. */
    private String endWithoutPlugin(String vmId) {
        try {
            backend.endVm(vmId);
            return "the kit ended its VMM by signal";
        } catch (RuntimeException e) {
            return "its VMM may still run: " + e.getMessage();
        }
    }

    /**
     * Runs {@code call} (plugin code) through {@link PluginCall}, waiting up to the stop timeout:
     * empty when it returned, else one line saying what it threw or that it did not return (the
     * thread is then interrupted and abandoned).
     */
    private Optional<String> bounded(String what, Runnable call) {
        Duration timeout = stopTimeout;
        return switch (PluginCall.run("hvspi-tck-" + what.replace(' ', '-'), timeout, call)) {
            case PluginCall.Returned<Void> r -> Optional.empty();
            case PluginCall.Threw<Void> threw -> Optional.of(threw.line());
            case PluginCall.TimedOut<Void> timedOut -> Optional.of(Thread.currentThread().isInterrupted()
                    ? "interrupted while waiting for the " + what
                    : "the " + what + " did not return within " + timeout.toMillis() + " ms");
        };
    }

    private void stopOrphan(String vmId) {
        Optional<String> failed = bounded("stop of disconnected VM '" + vmId + "'", () -> backend.host(vmId)
                .stateStore().load(vmId).ifPresent(record -> {
                    try (Hypervisor again = backend.factory().reattach(record, backend.host(vmId))) {
                        again.stop();
                    }
                }));
        if (failed.isPresent()) {
            // the test already failed on this VM; what the plugin could not stop, the kit ends
            endWithoutPlugin(vmId);
        }
    }

    @Override
    public void close() {
        try {
            stopAll();
        } finally {
            backend.close();
        }
    }
}
