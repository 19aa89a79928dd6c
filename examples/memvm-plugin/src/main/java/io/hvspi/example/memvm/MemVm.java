package io.hvspi.example.memvm;

import static io.hvspi.spi.Capability.BLOCK_DEVICE_HOTPLUG;
import static io.hvspi.spi.Capability.INDEPENDENT_IOTHREADS;

import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Capability;
import io.hvspi.spi.CpuSet;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.PollingParams;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/** One memvm VM, as seen through one connection to its {@link MemVmProcess}. */
final class MemVm implements Hypervisor {
    private final MemVmProfile profile;
    private final String vmId;
    private final HostContext host;
    private final int vcpus;
    private final int poolSize;
    private final IOThreadPolicy policy;
    private final List<Consumer<VmEvent>> listeners = new CopyOnWriteArrayList<>();
    private MemVmProcess process;
    private Path runtimeDir;
    private boolean stopped;
    private volatile boolean closed;

    MemVm(MemVmProfile profile, VmSpec spec, HostContext host) {
        this.profile = profile;
        this.vmId = spec.vmId();
        this.host = host;
        this.vcpus = spec.vcpus();
        this.poolSize = spec.ioThreads().poolSize();
        this.policy = spec.ioThreads().policy();
    }

    /** A handle on a running process (reattach). */
    MemVm(MemVmProfile profile, VmRecord record, HostContext host, MemVmProcess process) {
        this.profile = profile;
        this.vmId = record.vmId();
        this.host = host;
        this.vcpus = 0;
        this.poolSize = 0;
        this.policy = process.policy();
        this.process = process;
        this.runtimeDir = record.runtimeDir();
    }

    @Override
    public String vmId() {
        return vmId;
    }

    @Override
    public String type() {
        return profile.type();
    }

    @Override
    public synchronized void start() {
        connected();
        if (process != null || stopped) {
            throw new RequestRejectedException(Reason.INVALID_STATE,
                    "memvm: VM '" + vmId + "' was already started (state " + state() + ")");
        }
        runtimeDir = host.createRuntimeDir(vmId);
        process = MemVmProcess.launch(vmId, profile, vcpus, poolSize, policy);
        host.stateStore().save(new VmRecord(vmId, profile.type(), ProcessHandle.current().pid(), runtimeDir,
                Instant.now(), "{\"instance\":\"" + process.instance() + "\"}"));
    }

    @Override
    public synchronized void stop() {
        if (process != null) {
            process.shutdown();
            host.stateStore().remove(vmId);
            host.removeRuntimeDir(vmId); // the host's removal: it never follows a link out of the directory
            emit("SHUTDOWN");
            emit(VmEvent.VMM_EXITED); // the in-process VMM is gone: once, and last
        }
        stopped = true;
    }

    @Override
    public void pause() {
        running().pause();
    }

    @Override
    public void resume() {
        running().resume();
    }

    @Override
    public synchronized VmState state() {
        if (process == null) {
            return stopped ? VmState.STOPPED : VmState.CREATED;
        }
        return process.state();
    }

    @Override
    public Set<Capability> capabilities() {
        return profile.declared();
    }

    @Override
    public HostThreads hostThreads() {
        return running().hostThreads();
    }

    @Override
    public Subscription subscribe(Consumer<VmEvent> listener) {
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }

    @Override
    public Optional<IOThreadProvider> ioThreads() {
        return supports(INDEPENDENT_IOTHREADS) ? Optional.of(new Pool()) : Optional.empty();
    }

    @Override
    public Optional<DeviceHotplug> hotplug() {
        return supports(BLOCK_DEVICE_HOTPLUG) ? Optional.of(new Hotplug()) : Optional.empty();
    }

    @Override
    public void close() {
        closed = true;
        listeners.clear();
    }

    private void connected() {
        if (closed) {
            throw new VmmUnavailableException(VmmUnavailableException.Reason.EXITED,
                    "memvm: the connection to VM '" + vmId + "' is closed");
        }
    }

    private synchronized MemVmProcess running() {
        connected();
        if (process == null) {
            throw new RequestRejectedException(Reason.INVALID_STATE, "memvm: VM '" + vmId + "' is not started");
        }
        return process;
    }

    /** The deliveries so far, chained: events arrive in the order they happened (VMM_EXITED last). */
    private java.util.concurrent.CompletableFuture<Void> delivered = java.util.concurrent.CompletableFuture.completedFuture(null);

    private synchronized void emit(String name) {
        VmEvent event = new VmEvent(name, Instant.now(), Map.of("vm", vmId));
        // delivered off the caller's thread, as the SPI promises, one after the other
        delivered = delivered.thenRunAsync(() -> listeners.forEach(l -> {
            try {
                l.accept(event);
            } catch (RuntimeException e) {
                // a listener's failure must not stop the deliveries chained behind it
            }
        }), task -> Thread.ofVirtual().start(task));
    }

    private final class Pool implements IOThreadProvider {
        @Override
        public List<IOThreadInfo> list() {
            return running().ioThreads();
        }

        @Override
        public IOThreadPolicy policy() {
            return policy;
        }

        @Override
        public String choose() {
            return running().choose();
        }

        @Override
        public IOThreadInfo add(String id) {
            return running().addIoThread(id);
        }

        @Override
        public void remove(String id) {
            running().removeIoThread(id);
        }

        @Override
        public void setPolling(String id, PollingParams polling) {
            running().setPolling(id, polling);
        }

        // an in-memory VM has no host threads to pin; the uniform error names this plugin's type
        @Override
        public IOThreadInfo pin(String id, CpuSet cpus) {
            throw new UnsupportedCapabilityException(Capability.IOTHREAD_PINNING, type());
        }

        @Override
        public IOThreadInfo unpin(String id) {
            throw new UnsupportedCapabilityException(Capability.IOTHREAD_PINNING, type());
        }
    }

    private final class Hotplug implements DeviceHotplug {
        @Override
        public BlockDevice attach(BlockDeviceSpec spec) {
            return running().attach(spec);
        }

        @Override
        public void detach(String deviceId, Duration timeout) {
            running().detach(deviceId);
            emit("DEVICE_DELETED");
        }

        @Override
        public List<BlockDevice> list() {
            return running().devices();
        }

        @Override
        public BlockDevice move(String deviceId, IOThreadChoice target) {
            return running().move(deviceId, target);
        }
    }
}
