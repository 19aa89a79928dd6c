package io.hvspi.tck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hvspi.spi.Capability;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmRecord;
import io.hvspi.tck.backend.TckBackend;
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

    private final TckBackend backend;
    private final Function<Capability, CapabilityExpectation> expectations;
    private final List<Hypervisor> vms = new ArrayList<>();
    private final List<Hypervisor> disconnected = new ArrayList<>();
    private volatile TestReporter reporter;

    public TckKit(TckBackend backend, Function<Capability, CapabilityExpectation> expectations) {
        this.backend = Objects.requireNonNull(backend, "backend");
        this.expectations = Objects.requireNonNull(expectations, "expectations");
    }

    public TckBackend backend() {
        return backend;
    }

    /** The plugin test's decision for {@code c}. */
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
    public synchronized Hypervisor createVm(int poolSize, IOThreadPolicy policy) {
        String vmId = newVmId();
        Hypervisor vm = backend.factory().create(backend.vmSpec(vmId, poolSize, policy), backend.host(vmId));
        vms.add(vm);
        return vm;
    }

    /** A started VM; stopped after the test. */
    public Hypervisor startVm(int poolSize, IOThreadPolicy policy) {
        Hypervisor vm = createVm(poolSize, policy);
        vm.start();
        return vm;
    }

    /** A started VM with a pool of two and the default policy. */
    public Hypervisor startVm() {
        return startVm(2, IOThreadPolicy.LEAST_LOADED);
    }

    /** Reattaches to a started VM through its state record, as a new process would; stopped after the test. */
    public synchronized Hypervisor reattach(Hypervisor vm) {
        VmRecord record = backend.host(vm.vmId()).stateStore().load(vm.vmId())
                .orElseThrow(() -> new AssertionError("VM '" + vm.vmId() + "' has no state record after start"));
        Hypervisor again = backend.factory().reattach(record, backend.host(vm.vmId()));
        vms.add(again);
        return again;
    }

    /** Closes {@code vm} (disconnects; the VM keeps running) and stops tracking this handle. */
    public synchronized void disconnect(Hypervisor vm) {
        vms.remove(vm);
        vm.close();
        disconnected.add(vm);
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
    public void assertNamesMissingCapability(Hypervisor vm, Capability c, UnsupportedCapabilityException e) {
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
        TestReporter r = reporter;
        if (r != null) {
            r.publishEntry(key, value);
        }
    }

    void bind(TestReporter testReporter) {
        this.reporter = testReporter;
    }

    /**
     * Stops every VM made since the last call, collecting failures so that one
     * bad VM does not leak the others. A VM left disconnected (its reattach
     * failed) is reattached once more and stopped, best effort.
     */
    public synchronized void stopAll() {
        AssertionError failure = null;
        Set<String> stopped = new HashSet<>();
        for (Hypervisor vm : vms.reversed()) {
            try {
                vm.stop();
                stopped.add(vm.vmId());
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = new AssertionError("stopping VM '" + vm.vmId() + "' failed: " + e.getMessage(), e);
                }
            } finally {
                vm.close();
            }
        }
        for (Hypervisor vm : disconnected) {
            if (!stopped.contains(vm.vmId())) {
                stopOrphan(vm);
            }
        }
        vms.clear();
        disconnected.clear();
        if (failure != null) {
            throw failure;
        }
    }

    private void stopOrphan(Hypervisor vm) {
        try {
            backend.host(vm.vmId()).stateStore().load(vm.vmId()).ifPresent(record -> {
                try (Hypervisor again = backend.factory().reattach(record, backend.host(vm.vmId()))) {
                    again.stop();
                }
            });
        } catch (RuntimeException ignored) {
            // the test already failed on this VM; the backend's close removes what is left of it
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
