package io.hvspi.plugin.dragonball;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.plugin.dragonball.api.BlockDeviceConfigInfo;
import io.hvspi.plugin.dragonball.api.BootSourceConfig;
import io.hvspi.plugin.dragonball.api.VirtioNetDeviceConfigInfo;
import io.hvspi.plugin.dragonball.api.VmConfigInfo;
import io.hvspi.plugin.dragonball.bridge.BridgeClient;
import io.hvspi.plugin.dragonball.process.Sidecar;
import io.hvspi.kit.device.DeviceIds;
import io.hvspi.kit.device.DeviceSpecGuard;
import io.hvspi.kit.device.MacAddresses;
import io.hvspi.kit.lifecycle.Lifecycle;
import io.hvspi.kit.lifecycle.VmmSockets;
import io.hvspi.kit.threads.ProcTasks;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Capability;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.NetBackend;
import io.hvspi.spi.NetDevice;
import io.hvspi.spi.NetDeviceSpec;
import io.hvspi.spi.NetworkHotplug;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Dragonball VM behind a bridge: lifecycle through {@code ConfigureBootSource},
 * {@code SetVmConfiguration}, {@code StartMicroVm}, {@code PauseMicroVm} /
 * {@code ResumeMicroVm} and {@code ShutdownMicroVm}; block hotplug through
 * {@code InsertBlockDevice}, {@code PrepareRemoveBlockDevice} and
 * {@code RemoveBlockDevice}. No IOThreads: Dragonball serves each queue on its own
 * {@code blk_iothread_q<i>} thread, which {@link #hostThreads()} lists.
 */
final class DragonballHypervisor implements Hypervisor {
    static final String TYPE = "dragonball";
    static final String PCI_DRIVER = "virtio-blk-pci";
    /** InsertBlockDevice errors Dragonball gives after recording the drive (blk_dev_mgr.rs insert_device). */
    private static final Set<String> LEAVES_AN_ENTRY = Set.of("Block.Virtio", "Block.DeviceManager",
            "Block.CreateBlockDevice", "Block.RegisterBlockDevice");
    static final String MMIO_DRIVER = "virtio-blk-mmio";
    static final String ROOT_DRIVE_ID = "rootfs";
    static final String SOCKET_NAME = "dragonball-bridge.sock";
    /** What a device spec may not ask of Dragonball, and what it does instead. */
    private static final DeviceSpecGuard GUARD = DeviceSpecGuard.of(TYPE, DragonballHypervisorFactory.DECLARED)
            .because(Capability.INDEPENDENT_IOTHREADS, "Dragonball has no IOThreads, each queue runs on its own "
                    + "blk_iothread_q<i> thread")
            .because(Capability.IOTHREAD_VQ_MAPPING, "Dragonball has no IOThreads to map queues to")
            .because(Capability.MULTI_QUEUE, "Kata's runtime-rs gives Dragonball block devices one queue")
            .because(Capability.QUEUE_AFFINITY, "Dragonball has no affinity option for blk_iothread_q<i> threads");
    /** Kata retries hotplug every 10 ms while the guest's upcall channel is not up (vmm_instance.rs). */
    private static final Duration UPCALL_RETRY = Duration.ofMillis(10);

    private static final Logger LOG = LoggerFactory.getLogger(DragonballHypervisor.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String vmId;
    private final HostContext host;
    private final VmSpec spec; // null for a reattached VM: it is never started again
    private final boolean pciBus;
    /**
     * The lock of device changes (attach, detach), pause and resume, and of the save that records
     * them. Stop does not take it: it must not wait for an attach the VMM is slow to answer.
     */
    private final Object lock = new Object();
    /** Start and stop, one at a time; taken before {@link #lock} when both are. */
    private final Object lifeLock = new Object();
    /** Taken after {@link #lock} when both are: guards the record against a save racing stop's removal of it. */
    private final Object recordLock = new Object();
    /**
     * Set by stop under {@link #recordLock} with the record removed: a device change that the
     * VMM answered after that saves nothing (a save would make the runtime directory again,
     * with the record of a VM that is gone) and fails.
     */
    private boolean removed;
    private final java.util.concurrent.atomic.AtomicBoolean exitPublished =
            new java.util.concurrent.atomic.AtomicBoolean();
    /** Runs as an attach is about to make a null backend's sparse file (for tests: a stop at that moment). */
    volatile Runnable beforeSparseFile = () -> {};
    private final Map<String, Drive> drives = new LinkedHashMap<>();
    private final List<Consumer<VmEvent>> listeners = new CopyOnWriteArrayList<>();
    private final ExecutorService events;
    private final HostThreadReader threadReader = new HostThreadReader(ProcTasks.system());
    private final DragonballHotplug hotplug = new DragonballHotplug();
    private final DragonballNetwork network = new DragonballNetwork();
    private final Map<String, NetDevice> nets = new LinkedHashMap<>();

    private volatile BridgeClient client;
    private volatile Sidecar sidecar;
    private volatile Path runtimeDir;
    private volatile Instant createdAt;
    private volatile Lifecycle life;
    /** What Dragonball last reported (FAILED once the bridge is lost): the upcall retry reads it. */
    private volatile VmState knownState = VmState.CREATED;
    /** Guards {@link #knownState} and {@link #knownChanges}; never held across a call to the bridge. */
    private final Object known = new Object();
    /** Counts the changes this process made (start, pause, resume, stop, loss), so that state() keeps them. */
    private long knownChanges;

    DragonballHypervisor(VmSpec spec, HostContext host) {
        this(spec.vmId(), host, spec, !spec.block().driver().equals(MMIO_DRIVER));
    }

    private DragonballHypervisor(String vmId, HostContext host, VmSpec spec, boolean pciBus) {
        this.vmId = vmId;
        this.host = host;
        this.spec = spec;
        this.pciBus = pciBus;
        this.life = Lifecycle.created(TYPE, vmId);
        this.events = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "dragonball-events-" + vmId);
            t.setDaemon(true);
            return t;
        });
    }

    /** Connects to a VM an earlier process started; {@link VmmUnavailableException} when it is gone. */
    static DragonballHypervisor reattach(VmRecord record, HostContext host) {
        JsonNode state;
        try {
            state = JSON.readTree(record.pluginState());
        } catch (IOException e) {
            throw new HvspiException("VM '" + record.vmId() + "': unreadable dragonball plugin state: " + e.getMessage(), e);
        }
        DragonballHypervisor vm = new DragonballHypervisor(record.vmId(), host, null,
                state.path("pci_bus").asBoolean(true));
        long sidecarPid = state.path("sidecar_pid").asLong(0);
        if (sidecarPid > 0) {
            vm.sidecar = Sidecar.adopt(sidecarPid).orElseThrow(() -> new VmmUnavailableException(
                    VmmUnavailableException.Reason.EXITED, "VM '" + record.vmId() + "' is gone: its bridge sidecar (pid "
                    + sidecarPid + ") no longer runs"));
        }
        vm.runtimeDir = record.runtimeDir();
        vm.createdAt = record.createdAt();
        try { // read before connecting: a record that does not parse leaves no connection behind
            for (JsonNode d : state.path("drives")) {
                Drive drive = Drive.fromJson(d);
                vm.drives.put(drive.device().id(), drive);
            }
            // Dragonball cannot list its network devices: the record is the only account of them
            for (JsonNode n : state.path("nets")) {
                vm.nets.put(n.path("id").asText(), new NetDevice(n.path("id").asText(), n.path("mac").asText(),
                        new NetBackend.Tap(n.path("tap").asText(), n.path("create").asBoolean(false)),
                        n.path("queues").asInt(1), Optional.empty()));
            }
        } catch (IllegalArgumentException e) {
            throw new HvspiException("VM '" + record.vmId() + "': corrupt dragonball plugin state: "
                    + e.getMessage(), e);
        }
        vm.connect(Path.of(state.path("endpoint").asText()));
        vm.life = Lifecycle.reattached(TYPE, record.vmId(), VmState.RUNNING);
        if (vm.state() == VmState.PAUSED) {
            vm.life.paused();
        }
        return vm;
    }

    @Override
    public String vmId() {
        return vmId;
    }

    @Override
    public String type() {
        return TYPE;
    }

    // --- lifecycle -------------------------------------------------------------------------------------------

    @Override
    public void start() {
        synchronized (lifeLock) {
            life.beginStart();
            try {
                runtimeDir = host.createRuntimeDir(vmId);
            } catch (RuntimeException e) {
                life.startFailed(); // taken or unsafe id: nothing of ours to undo
                throw e;
            }
            try {
                Optional<String> endpoint = host.option("endpoint");
                if (endpoint.isPresent()) {
                    connect(Path.of(endpoint.get()));
                } else {
                    Path socket = runtimeDir.resolve(SOCKET_NAME);
                    sidecar = Sidecar.spawn(spec.binary(), socket, runtimeDir.resolve("dragonball-bridge.log"));
                    sidecar.awaitReady(() -> {
                        connect(socket);
                        return client;
                    }, timeout());
                }
                boot();
                createdAt = Instant.now();
                life.started(VmState.RUNNING);
                setKnown(VmState.RUNNING);
                persist();
            } catch (RuntimeException e) {
                abandonStart();
                life.startFailed();
                throw e;
            }
        }
    }

    private void boot() {
        Duration t = timeout();
        client.call("ConfigureBootSource", new BootSourceConfig(spec.kernel().orElseThrow().toString(),
                spec.initrd().map(Path::toString),
                spec.kernelParams().isBlank() ? Optional.empty() : Optional.of(spec.kernelParams())).toJson(), t);
        client.call("SetVmConfiguration", new VmConfigInfo(spec.vcpus(), maxVcpus(spec), spec.memoryMib(), pciBus)
                .toJson(), t);
        if (spec.image().isPresent()) {
            // Cold-plugged before boot, like Kata's rootfs image: read-only and the root device.
            client.call("InsertBlockDevice", new BlockDeviceConfigInfo(ROOT_DRIVE_ID, spec.image().get().toString(),
                    true, true, spec.block().cacheSet() && spec.block().cacheDirect(), 1, pciBus).toJson(), t);
        }
        client.call("StartMicroVm", null, t);
    }

    private static int maxVcpus(VmSpec spec) {
        Object max = spec.table().get("default_maxvcpus");
        int asked = max instanceof Number n ? n.intValue() : 0;
        return Math.max(spec.vcpus(), asked);
    }

    /** Leaves nothing behind after a failed start: no connection, no sidecar, no runtime directory. */
    private void abandonStart() {
        if (client != null) {
            client.close();
            client = null;
        }
        if (sidecar != null) {
            sidecar.stop(timeout());
            sidecar = null;
        }
        deleteRuntimeDir();
    }

    private void connect(Path socket) {
        BridgeClient c = BridgeClient.connect(socket, timeout());
        c.onLoss(this::lost);
        client = c;
    }

    /**
     * Shuts the VM down and forgets it. With a sidecar of its own, the sidecar is ended by
     * signal. At an endpoint (a bridge hvspi did not spawn, so no process to signal) the
     * record is removed only with proof that the VMM is gone: Dragonball answered
     * {@code ShutdownMicroVm}, the connection ended after it was sent, or the socket now
     * refuses connections. Otherwise this throws {@link VmmUnavailableException}
     * ({@code TIMED_OUT}) and keeps the record, so that a later stop retries.
     *
     * <p>It marks the VM stopped first and does not wait for an attach in flight: an attach
     * that the VMM answers after that fails and saves nothing.
     */
    @Override
    public void stop() {
        synchronized (lifeLock) {
            boolean started = life.state() != VmState.CREATED;
            if (!life.beginStop()) {
                return;
            }
            BridgeClient c = client;
            Path socket = c == null ? null : c.socket();
            if (sidecar == null && started && socket != null) {
                shutDownAtEndpoint(c, socket);
            } else if (c != null && c.isOpen()) {
                try {
                    c.call("ShutdownMicroVm", null, timeout());
                } catch (HvspiException e) {
                    LOG.warn("VM '{}': ShutdownMicroVm failed, ending the bridge sidecar: {}", vmId, e.getMessage());
                }
                c.close();
            }
            if (sidecar != null) {
                sidecar.stop(timeout());
            }
            synchronized (recordLock) {
                removed = true;
                deleteRuntimeDir();
                if (started) {
                    host.stateStore().remove(vmId);
                }
            }
            setKnown(VmState.STOPPED);
            if (started) {
                // as the other plugins do: a subscriber learns that the VMM is gone, whoever ended it
                vmmExited(Map.of("reason", "STOPPED"));
            }
            events.shutdown();
        }
    }

    /**
     * Sends {@code ShutdownMicroVm} to a bridge hvspi did not spawn (over a new connection when
     * the old one dropped) and returns once the VMM is proven gone; else gives the stop up.
     */
    private void shutDownAtEndpoint(BridgeClient current, Path socket) {
        BridgeClient c = current.isOpen() ? current : reconnectForShutdown(socket);
        boolean gone = false;
        String why;
        if (c == null) {
            why = "it cannot be reached";
        } else {
            try {
                c.call("ShutdownMicroVm", null, timeout());
                gone = true; // Dragonball confirmed: it exits once it answered
                why = "";
            } catch (VmmUnavailableException e) {
                // the connection ended after it was sent: proof once nothing listens there either (a bridge that
                // dropped the connection and listens on has not shut down)
                gone = e.reason() == VmmUnavailableException.Reason.EXITED && stopsListening(socket);
                why = e.getMessage();
            } catch (HvspiException e) {
                why = "refused: " + e.getMessage();
            }
        }
        if (!gone && VmmSockets.refusesConnections(socket)) {
            gone = true; // nothing listens any more: the VMM went away meanwhile
        }
        if (!gone) {
            if (c != null && c != current) {
                c.close();
            }
            life.stopFailed();
            throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT, "cannot stop VM '" + vmId
                    + "' at endpoint " + socket + ": ShutdownMicroVm not confirmed (" + why.replace('\n', ' ')
                    + ") and the bridge still accepts connections; kept its record, stop again to retry");
        }
        if (c != null) {
            c.close();
        }
        current.close();
    }

    /** Whether nothing listens on {@code socket} within the command timeout. */
    private boolean stopsListening(Path socket) {
        long deadline = System.nanoTime() + timeout().toNanos();
        try {
            return VmmSockets.awaitRefusal(socket, Duration.ofMillis(50), () -> System.nanoTime() - deadline < 0);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return VmmSockets.refusesConnections(socket);
        }
    }

    /**
     * A bridge hvspi reaches at an endpoint outlives a dropped connection (no sidecar of ours to
     * end): a new one delivers the shutdown, so that stop does not forget a VM that still runs.
     */
    private BridgeClient reconnectForShutdown(Path socket) {
        try {
            return BridgeClient.connect(socket, timeout());
        } catch (HvspiException e) {
            LOG.warn("VM '{}': cannot reach its bridge at {} again to shut it down: {}", vmId, socket, e.getMessage());
            return null;
        }
    }

    @Override
    public void pause() {
        synchronized (lock) {
            requireStarted("pause").call("PauseMicroVm", null, timeout());
            life.paused();
            setKnown(VmState.PAUSED);
        }
    }

    @Override
    public void resume() {
        synchronized (lock) {
            requireStarted("resume").call("ResumeMicroVm", null, timeout());
            life.resumed();
            setKnown(VmState.RUNNING);
        }
    }

    @Override
    public VmState state() {
        VmState told = life.state();
        if (told == VmState.STOPPED || told == VmState.CREATED) {
            return told;
        }
        BridgeClient c = client;
        if (c == null) {
            return VmState.FAILED;
        }
        if (!c.isOpen()) {
            return VmState.FAILED;
        }
        long seen;
        synchronized (known) {
            seen = knownChanges;
        }
        try {
            JsonNode info = c.call("GetInstanceInfo", null, timeout());
            VmState reported = fromInstanceState(info.path("state"));
            synchronized (known) {
                if (knownChanges == seen) { // else a pause or resume answered meanwhile and is newer
                    knownState = reported;
                }
            }
            return reported;
        } catch (HvspiException e) {
            LOG.debug("VM '{}': GetInstanceInfo failed: {}", vmId, e.getMessage());
            return VmState.FAILED;
        }
    }

    /** Dragonball's {@code InstanceState}: a string, or {@code {"Exited": code}}. */
    static VmState fromInstanceState(JsonNode state) {
        if (state.isObject() && state.has("Exited")) {
            return VmState.STOPPED;
        }
        return switch (state.asText()) {
            case "Uninitialized", "Starting" -> VmState.CREATED;
            case "Running" -> VmState.RUNNING;
            case "Paused" -> VmState.PAUSED;
            case "Halting", "Halted" -> VmState.STOPPED;
            default -> VmState.FAILED;
        };
    }

    @Override
    public Set<Capability> capabilities() {
        // Nothing to probe: the bridge reports no features beyond the protocol version.
        return DragonballHypervisorFactory.DECLARED;
    }

    @Override
    public HostThreads hostThreads() {
        return threadReader.read(requireStarted("list the threads of").call("ListThreads", null, timeout()));
    }

    @Override
    public Subscription subscribe(Consumer<VmEvent> listener) {
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }

    @Override
    public Optional<IOThreadProvider> ioThreads() {
        return Optional.empty();
    }

    @Override
    public Optional<DeviceHotplug> hotplug() {
        return Optional.of(hotplug);
    }

    @Override
    public Optional<NetworkHotplug> networkHotplug() {
        return Optional.of(network);
    }

    @Override
    public void close() {
        BridgeClient c = client;
        if (c != null) {
            c.close();
        }
        events.shutdown();
    }

    /** The error of an attach that timed out: the device stays listed, for a detach to remove. */
    private VmmUnavailableException stillListed(String deviceId, VmmUnavailableException e) {
        return new VmmUnavailableException(e.reason(), "attach of '" + deviceId + "' to VM '" + vmId + "': "
                + e.getMessage() + "; Dragonball may still add it, so it stays listed: detach it to remove it", e);
    }

    private void setKnown(VmState state) {
        synchronized (known) {
            knownState = state;
            knownChanges++;
        }
    }

    private void lost(VmmUnavailableException e) {
        if (life.isStopped()) {
            return;
        }
        setKnown(VmState.FAILED);
        vmmExited(Map.of("reason", e.reason().name(), "message", e.getMessage()));
    }

    /** Publishes {@code VMM_EXITED} once: when the bridge is lost, or when stop shut the VMM down. */
    private void vmmExited(Map<String, Object> data) {
        if (exitPublished.compareAndSet(false, true)) {
            publish(new VmEvent(VmEvent.VMM_EXITED, Instant.now(), data));
        }
    }

    private void publish(VmEvent event) {
        for (Consumer<VmEvent> l : listeners) {
            try {
                events.execute(() -> l.accept(event));
            } catch (RejectedExecutionException closed) {
                return;
            }
        }
    }

    /** @param action what the caller tried, for the refusal: "pause", "attach 'd1' to" */
    private BridgeClient requireStarted(String action) {
        life.requireStarted(action);
        BridgeClient c = client;
        if (c == null) {
            throw new RequestRejectedException(Reason.INVALID_STATE, TYPE + ": cannot " + action + " VM '" + vmId
                    + "': it has no bridge connection");
        }
        return c;
    }

    private Duration timeout() {
        return host.commandTimeout();
    }

    // --- state -----------------------------------------------------------------------------------------------

    /**
     * Saves the record; false (saving nothing) once stop removed it. Takes {@link #lock} (the
     * devices it reads), then {@link #recordLock}.
     */
    private boolean persist() {
        synchronized (lock) {
            synchronized (recordLock) {
                if (removed) {
                    return false;
                }
                save();
                return true;
            }
        }
    }

    /** Saves a device change, or fails it when stop removed the record meanwhile. */
    private void persistChange(String what) {
        if (!persist()) {
            throw new RequestRejectedException(Reason.INVALID_STATE, TYPE + ": " + what + " VM '" + vmId
                    + "' was cut short: the VM was stopped meanwhile, and nothing of it is recorded");
        }
    }

    private void save() {
        ObjectNode state = JSON.createObjectNode();
        state.put("endpoint", client.socket().toString());
        state.put("sidecar_pid", sidecar == null ? 0 : sidecar.pid());
        state.put("pci_bus", pciBus);
        state.put("protocol_version", BridgeClient.VERSION);
        ArrayNode list = state.putArray("drives");
        drives.values().forEach(d -> list.add(d.toJson()));
        ArrayNode netList = state.putArray("nets");
        for (NetDevice n : nets.values()) {
            NetBackend.Tap tap = (NetBackend.Tap) n.backend();
            netList.addObject().put("id", n.id()).put("tap", tap.name()).put("create", tap.create())
                    .put("mac", n.mac()).put("queues", n.queues());
        }
        long pid = sidecar != null ? sidecar.pid() : client.greeting().pid();
        host.stateStore().save(new VmRecord(vmId, TYPE, pid, runtimeDir, createdAt, state.toString()));
    }

    private void deleteRuntimeDir() {
        if (runtimeDir == null) {
            return;
        }
        try {
            host.removeRuntimeDir(vmId);
        } catch (HvspiException e) {
            LOG.warn("VM '{}': {}", vmId, e.getMessage());
        }
    }

    // --- hotplug ---------------------------------------------------------------------------------------------

    /** Block hotplug: InsertBlockDevice; PrepareRemoveBlockDevice then RemoveBlockDevice. */
    private final class DragonballHotplug implements DeviceHotplug {

        @Override
        public BlockDevice attach(BlockDeviceSpec device) {
            synchronized (lock) {
                BridgeClient c = requireStarted("attach '" + device.id() + "' to");
                String driver = check(device);
                Path path = backendPath(device);
                try {
                    BlockDeviceConfigInfo config = new BlockDeviceConfigInfo(device.id(), path.toString(), false,
                            device.readOnly(), device.direct(), 1, driver.equals(PCI_DRIVER));
                    JsonNode result = callWithUpcallRetry(c, "InsertBlockDevice", config.toJson(),
                            System.nanoTime() + timeout().toNanos());
                    // Dragonball's callback sends 0 for an MMIO drive, which has no slot
                    JsonNode slot = result.path("slot");
                    Drive drive = Drive.of(device.id(), driver, device.backend(), path, device.readOnly(),
                            slot.isIntegralNumber() && driver.equals(PCI_DRIVER) ? Optional.of(slot.intValue())
                                    : Optional.empty());
                    drives.put(device.id(), drive);
                    persistChange("attach of '" + device.id() + "' to");
                    return drive.device();
                } catch (VmmUnavailableException e) {
                    if (e.reason() == VmmUnavailableException.Reason.TIMED_OUT) {
                        // Dragonball may still add it (the bridge drops a late answer): it stays listed, so that
                        // the id is not given twice and a detach removes it (healing if it was never added)
                        drives.put(device.id(), Drive.of(device.id(), driver, device.backend(), path,
                                device.readOnly(), Optional.empty()));
                        persist();
                        throw stillListed(device.id(), e);
                    }
                    if (device.backend() instanceof BlockBackend.Null) {
                        deleteQuietly(path);
                    }
                    throw e;
                } catch (RuntimeException e) {
                    if (e instanceof VmmException refused && LEAVES_AN_ENTRY.contains(refused.errorClass())) {
                        forgetInDragonball(c, device.id(), refused);
                    }
                    if (device.backend() instanceof BlockBackend.Null) {
                        deleteQuietly(path);
                    }
                    throw e;
                }
            }
        }

        /**
         * Dragonball records a hotplugged drive before it makes the device, and keeps the entry when
         * making it fails (opening the file, the virtio or PCI device): a retry of the id would be a
         * path conflict. RemoveBlockDevice drops an entry that has no device.
         */
        private void forgetInDragonball(BridgeClient c, String driveId, VmmException refused) {
            try {
                c.call("RemoveBlockDevice", BlockDeviceConfigInfo.driveIdOnly(driveId), timeout());
            } catch (VmmException e) {
                if (!e.errorClass().equals("Block.InvalidDeviceId")) { // none was left: Dragonball cleaned up
                    refused.addSuppressed(e);
                }
            } catch (RuntimeException e) {
                refused.addSuppressed(e);
            }
        }

        @Override
        public void detach(String deviceId, Duration timeout) {
            synchronized (lock) {
                BridgeClient c = requireStarted("detach '" + deviceId + "' from");
                Drive drive = drives.get(deviceId);
                if (drive == null) {
                    throw new RequestRejectedException(Reason.NOT_FOUND, "VM '" + vmId + "' has no hotplugged device '"
                            + deviceId + "' (attached: " + String.join(", ", drives.keySet()) + ")");
                }
                long deadline = System.nanoTime() + timeout.toNanos();
                try {
                    // The guest releases the device on PrepareRemoveBlockDevice; only then does Dragonball drop it.
                    callWithUpcallRetry(c, "PrepareRemoveBlockDevice", BlockDeviceConfigInfo.driveIdOnly(deviceId),
                            deadline);
                    c.call("RemoveBlockDevice", BlockDeviceConfigInfo.driveIdOnly(deviceId), timeout());
                } catch (VmmException e) {
                    if (e.errorClass().equals("Block.InvalidDeviceId")) {
                        forget(drive); // Dragonball says it has no such drive: it is gone either way
                    }
                    throw e;
                }
                forget(drive);
            }
        }

        private void forget(Drive drive) {
            drives.remove(drive.device().id());
            if (drive.ownsFile()) {
                deleteQuietly(drive.pathOnHost());
            }
            persist();
        }

        @Override
        public List<BlockDevice> list() {
            synchronized (lock) {
                return new ArrayList<>(drives.values().stream().map(Drive::device).toList());
            }
        }

        @Override
        public BlockDevice move(String deviceId, IOThreadChoice target) {
            throw new UnsupportedCapabilityException(Capability.IOTHREAD_MOVE, TYPE,
                    "Dragonball has no IOThreads to move a device between");
        }

        /** Refuses what Dragonball (or Kata's use of it) cannot do; returns the driver to use. */
        private String check(BlockDeviceSpec device) {
            DeviceIds.checkDeviceId(TYPE, device.id());
            if (drives.containsKey(device.id()) || nets.containsKey(device.id()) || (spec != null && spec.image().isPresent()
                    && device.id().equals(ROOT_DRIVE_ID))) {
                throw new RequestRejectedException(Reason.DUPLICATE_ID, "VM '" + vmId + "' already has a drive '"
                        + device.id() + "'");
            }
            GUARD.check(device);
            if (!device.format().equals("raw")) {
                throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "Dragonball reads raw images only, not '"
                        + device.format() + "' (drive '" + device.id() + "')");
            }
            String driver = device.driver().orElse(pciBus ? PCI_DRIVER : MMIO_DRIVER);
            if (!driver.equals(PCI_DRIVER) && !driver.equals(MMIO_DRIVER)) {
                throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "Dragonball has no block driver '" + driver
                        + "' (drive '" + device.id() + "'): use " + PCI_DRIVER + " or " + MMIO_DRIVER);
            }
            if (driver.equals(PCI_DRIVER) && !pciBus) {
                // Dragonball hotplugs PCI devices only with pci_hotplug_enabled, set at start from the VM's driver
                throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "VM '" + vmId + "' was started with "
                        + MMIO_DRIVER + ", without PCI hotplug: Dragonball cannot hotplug " + PCI_DRIVER + " drive '"
                        + device.id() + "'");
            }
            return driver;
        }

        /** The host path Dragonball opens; a null backend becomes a sparse file of its size. */
        private Path backendPath(BlockDeviceSpec device) {
            return switch (device.backend()) {
                case BlockBackend.HostPath p -> p.path().toAbsolutePath();
                case BlockBackend.Null n -> {
                    beforeSparseFile.run();
                    Path file = runtimeDir.resolve("null-" + device.id() + ".img");
                    // under the record lock, as stop removes the runtime directory: a stop that began after
                    // requireStarted (stop does not take lock) refuses the attach here, and one that comes
                    // later deletes the directory with the file in it, never while it is being made
                    synchronized (recordLock) {
                        if (removed || life.isStopped()) {
                            throw new RequestRejectedException(Reason.INVALID_STATE, TYPE + ": cannot attach '"
                                    + device.id() + "' to VM '" + vmId + "': it was stopped meanwhile");
                        }
                        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
                            f.setLength(n.sizeBytes());
                        } catch (IOException e) {
                            throw new HvspiException(TYPE + ": cannot attach '" + device.id() + "' to VM '" + vmId
                                    + "': cannot create the sparse file " + file + " that stands in for its null"
                                    + " backend: " + String.valueOf(e.getMessage()).replace('\n', ' '), e);
                        }
                    }
                    yield file;
                }
            };
        }

        /**
         * Sends a hotplug action; while the VM runs and the guest's upcall channel is not up yet
         * ({@code UpcallServerNotReady}), retries until the deadline as Kata does. A paused guest
         * cannot answer, so there the first refusal is final.
         */
        private JsonNode callWithUpcallRetry(BridgeClient c, String action, JsonNode config, long deadline) {
            while (true) {
                Duration left = Duration.ofNanos(Math.max(1, deadline - System.nanoTime()));
                try {
                    return c.call(action, config, left);
                } catch (VmmException e) {
                    // no attempt with less than a quarter of the timeout left: a hotplug cannot answer in that
                    boolean retry = e.errorClass().equals("UpcallServerNotReady") && knownState == VmState.RUNNING
                            && deadline - System.nanoTime() > UPCALL_RETRY.plus(timeout().dividedBy(4)).toNanos();
                    if (!retry) {
                        throw e;
                    }
                }
                try {
                    Thread.sleep(UPCALL_RETRY);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT,
                            "interrupted while retrying " + action);
                }
            }
        }
    }

    /**
     * Network hotplug: {@code InsertNetworkDevice} and {@code RemoveNetworkDevice}, both through
     * the guest's upcall channel (retried while it is not up, as Kata does). Dragonball opens the
     * tap by name with {@code TUNSETIFF}, creating it when no interface has that name; a tap it
     * created goes with the device. Dragonball's network devices are virtio-mmio: no PCI address.
     */
    private final class DragonballNetwork implements NetworkHotplug {
        private static final Path SYS_NET = Path.of("/sys/class/net");

        @Override
        public NetDevice attach(NetDeviceSpec device) {
            synchronized (lock) {
                BridgeClient c = requireStarted("attach '" + device.id() + "' to");
                DeviceIds.checkDeviceId(TYPE, device.id());
                if (nets.containsKey(device.id()) || drives.containsKey(device.id())
                        || (spec != null && spec.image().isPresent() && device.id().equals(ROOT_DRIVE_ID))) {
                    throw new RequestRejectedException(Reason.DUPLICATE_ID, "VM '" + vmId + "' already has a device '"
                            + device.id() + "'");
                }
                if (device.queues() > 1) {
                    throw new UnsupportedCapabilityException(Capability.MULTI_QUEUE, TYPE,
                            "Kata's runtime-rs gives Dragonball network devices one queue pair");
                }
                NetBackend.Tap tap = switch (device.backend()) {
                    case NetBackend.Tap t -> t;
                };
                checkTap(device.id(), tap);
                Set<String> taken = new java.util.HashSet<>();
                nets.values().forEach(n -> taken.add(n.mac()));
                String mac = device.mac().map(m -> MacAddresses.check(TYPE, m))
                        .orElseGet(() -> MacAddresses.generate(taken));
                VirtioNetDeviceConfigInfo config = new VirtioNetDeviceConfigInfo(device.id(), tap.name(), mac,
                        device.queues());
                NetDevice attached = new NetDevice(device.id(), mac, tap, device.queues(), Optional.empty());
                try {
                    hotplug.callWithUpcallRetry(c, "InsertNetworkDevice", config.toJson(),
                            System.nanoTime() + timeout().toNanos());
                } catch (VmmUnavailableException e) {
                    if (e.reason() == VmmUnavailableException.Reason.TIMED_OUT) {
                        nets.put(device.id(), attached); // as for a disk: listed until a detach removes it
                        persist();
                        throw stillListed(device.id(), e);
                    }
                    throw e;
                }
                nets.put(device.id(), attached);
                persistChange("attach of '" + device.id() + "' to");
                return attached;
            }
        }

        @Override
        public void detach(String deviceId, Duration timeout) {
            synchronized (lock) {
                BridgeClient c = requireStarted("detach '" + deviceId + "' from");
                if (!nets.containsKey(deviceId)) {
                    throw new RequestRejectedException(Reason.NOT_FOUND, "VM '" + vmId
                            + "' has no hotplugged network device '" + deviceId + "' (attached: "
                            + String.join(", ", nets.keySet()) + ")");
                }
                try {
                    hotplug.callWithUpcallRetry(c, "RemoveNetworkDevice",
                            VirtioNetDeviceConfigInfo.ifaceIdOnly(deviceId), System.nanoTime() + timeout.toNanos());
                } catch (VmmException e) {
                    // Network.* since Kata merged Dragonball's network managers; VirtioNet.* from older sidecars
                    if (e.errorClass().equals("Network.InvalidIfaceId")
                            || e.errorClass().equals("VirtioNet.InvalidIfaceId")) {
                        nets.remove(deviceId); // Dragonball has no such interface: it is gone either way
                        persist();
                    }
                    throw e;
                }
                nets.remove(deviceId);
                persist();
            }
        }

        @Override
        public List<NetDevice> list() {
            synchronized (lock) {
                return List.copyOf(nets.values());
            }
        }

        /** A tap to create must be free; a tap brought must be there (Dragonball would silently create it). */
        private void checkTap(String id, NetBackend.Tap tap) {
            boolean exists = Files.exists(SYS_NET.resolve(tap.name()));
            if (tap.create() && exists) {
                throw new RequestRejectedException(Reason.INVALID_ARGUMENT, TYPE + ": device '" + id
                        + "': interface '" + tap.name() + "' already exists on this host; pass it as a tap you "
                        + "bring, or pick a free name");
            }
            if (!tap.create() && !exists) {
                throw new RequestRejectedException(Reason.INVALID_ARGUMENT, TYPE + ": device '" + id
                        + "': no interface '" + tap.name() + "' on this host; create the tap first, or ask for a new one");
            }
        }
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            LOG.warn("cannot remove {}: {}", file, e.getMessage());
        }
    }
}
