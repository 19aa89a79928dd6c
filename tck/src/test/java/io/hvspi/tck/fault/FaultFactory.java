package io.hvspi.tck.fault;

import io.hvspi.spi.Capability;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.DeviceHotplug;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * A third party's plugin with one bug switched on: its VMM is a real process ({@code tail -f
 * <runtime dir>/vmm.log}, so it names its runtime directory as a VMM does), recorded as a
 * plugin would, so a leak shows in the process table.
 *
 * <p>Also the source of {@code hvctl compat}'s faulty plugin in {@code CompatCommandIT}
 * ({@code cli/src/test/plugin-sources/hanging} subclasses it): keep it to the SPI and the JDK.
 */
public class FaultFactory implements HypervisorFactory {
    /** The bug, at most one. */
    public enum Fault { NONE, DESC_THROW, DESC_HANG, CAPS_NULL, CREATE_OOM, CREATE_HANG, STOP_SOE, STOP_HANG, VMID_HANG,
        VMID_THROW }

    private final String type;
    private final Fault fault;
    /** Counted down when a create that hangs has begun. */
    public final CountDownLatch hanging = new CountDownLatch(1);
    /** How many times a VM handle of this factory was closed. */
    public final AtomicInteger closes = new AtomicInteger();

    public FaultFactory(String type, Fault fault) {
        this.type = type;
        this.fault = fault;
    }

    /** The processes whose command line names a path under {@code dir}: the VMMs of the VMs made there. */
    public static List<ProcessHandle> vmmsUnder(Path dir) {
        String prefix = dir.toAbsolutePath().normalize() + "/";
        return ProcessHandle.allProcesses().filter(p -> p.info().arguments()
                .map(a -> Arrays.stream(a).anyMatch(x -> x.startsWith(prefix))).orElse(false)).toList();
    }

    /**
     * Waits up to {@code timeout} until no VMM runs under {@code dir} (a signalled process takes a
     * moment to go), polling; the ones still running then, one line each ({@code pid command line}).
     */
    public static List<String> vmmsLeftUnder(Path dir, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<ProcessHandle> left = vmmsUnder(dir);
        while (!left.isEmpty() && System.nanoTime() < deadline) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
            left = vmmsUnder(dir);
        }
        return left.stream().filter(ProcessHandle::isAlive)
                .map(p -> p.pid() + " " + p.info().commandLine().orElse("?")).toList();
    }

    static int recurse(int n) {
        return recurse(n + 1) + 1;
    }

    static void hang() {
        while (true) {
            try {
                Thread.sleep(100_000);
            } catch (InterruptedException ignored) {
                // a hung plugin ignores interrupts too
            }
        }
    }

    @Override
    public String type() {
        return type;
    }

    @Override
    public String description() {
        if (fault == Fault.DESC_THROW) {
            throw new IllegalStateException("description boom");
        }
        if (fault == Fault.DESC_HANG) {
            hang();
        }
        return "fault plugin " + type;
    }

    @Override
    public Set<Capability> declaredCapabilities() {
        if (fault == Fault.CAPS_NULL) {
            return new HashSet<>(Arrays.asList(Capability.BLOCK_DEVICE, null));
        }
        return EnumSet.of(Capability.BLOCK_DEVICE);
    }

    @Override
    public Hypervisor create(VmSpec spec, HostContext host) {
        if (fault == Fault.CREATE_OOM) {
            throw new OutOfMemoryError("plugin asked for too much");
        }
        if (fault == Fault.CREATE_HANG) {
            hanging.countDown();
            hang();
        }
        return new Vm(spec.vmId(), host, 0);
    }

    @Override
    public Hypervisor reattach(VmRecord record, HostContext host) {
        return new Vm(record.vmId(), host, record.pid());
    }

    final class Vm implements Hypervisor {
        private final String vmId;
        private final HostContext host;
        private volatile long pid;
        private volatile boolean stopped;
        private final List<Consumer<VmEvent>> listeners = new java.util.concurrent.CopyOnWriteArrayList<>();

        Vm(String vmId, HostContext host, long pid) {
            this.vmId = vmId;
            this.host = host;
            this.pid = pid;
        }

        @Override
        public String vmId() {
            if (fault == Fault.VMID_HANG) {
                hang();
            }
            if (fault == Fault.VMID_THROW) {
                throw new IllegalStateException("vmId boom");
            }
            return vmId;
        }
        @Override public String type() { return type; }

        @Override
        public void start() {
            Path dir = host.createRuntimeDir(vmId);
            try {
                Path log = dir.resolve("vmm.log");
                Files.writeString(log, "");
                Process vmm = new ProcessBuilder("tail", "-f", log.toString())
                        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                pid = vmm.pid();
            } catch (IOException e) {
                throw new VmmUnavailableException(VmmUnavailableException.Reason.EXITED, e.getMessage(), e);
            }
            host.stateStore().save(new VmRecord(vmId, type, pid, dir, Instant.now(), "{}"));
        }

        @Override
        public void stop() {
            if (fault == Fault.STOP_SOE) {
                recurse(0);
            }
            if (fault == Fault.STOP_HANG) {
                hang();
            }
            if (pid > 0) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
            host.stateStore().remove(vmId);
            host.removeRuntimeDir(vmId);
            stopped = true;
            // the SPI's one promised event, delivered off the caller's thread
            VmEvent exited = new VmEvent(VmEvent.VMM_EXITED, Instant.now(), java.util.Map.of());
            Thread.ofPlatform().daemon().start(() -> listeners.forEach(l -> l.accept(exited)));
        }

        @Override public void pause() { }
        @Override public void resume() { }
        @Override public VmState state() { return stopped ? VmState.STOPPED : pid > 0 ? VmState.RUNNING : VmState.CREATED; }
        @Override public Set<Capability> capabilities() { return EnumSet.of(Capability.BLOCK_DEVICE); }
        @Override public HostThreads hostThreads() { return new HostThreads(pid, List.of()); }
        @Override
        public Subscription subscribe(Consumer<VmEvent> l) {
            listeners.add(l);
            return () -> listeners.remove(l);
        }
        @Override public Optional<IOThreadProvider> ioThreads() { return Optional.empty(); }
        @Override public Optional<DeviceHotplug> hotplug() { return Optional.empty(); }
        @Override public void close() { closes.incrementAndGet(); }
    }
}
