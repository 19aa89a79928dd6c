package io.hvspi.plugin.clh;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.plugin.clh.api.ClhApiClient;
import io.hvspi.plugin.clh.api.Payloads;
import io.hvspi.plugin.clh.hotplug.ClhDeviceHotplug;
import io.hvspi.plugin.clh.hotplug.ClhNetworkHotplug;
import io.hvspi.plugin.clh.process.ClhProcess;
import io.hvspi.plugin.clh.threads.ThreadScanner;
import io.hvspi.kit.lifecycle.Lifecycle;
import io.hvspi.kit.lifecycle.VmmSockets;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Capability;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.NetBackend;
import io.hvspi.spi.NetDevice;
import io.hvspi.spi.NetDeviceSpec;
import io.hvspi.spi.NetworkHotplug;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One VM on Cloud Hypervisor, driven through its REST API.
 *
 * <p>{@link #start()} spawns {@code cloud-hypervisor --api-socket path=<runtime
 * dir>/clh-api.sock} (or, with the host option {@code endpoint}, connects to
 * that socket instead), polls {@code vmm.ping} until it answers, sends
 * {@code vm.create} and {@code vm.boot}. A spec needs a kernel (the factory
 * refuses one without): Cloud Hypervisor v51.1 validates the payload on boot
 * and on every device add, so a VM without one can neither boot nor take a
 * disk or NIC. A VM found Created on reattach (an earlier start stopped between
 * create and boot) is {@link VmState#PAUSED}, and {@link #resume()} boots it.
 */
final class ClhHypervisor implements Hypervisor {
    static final String TYPE = "clh";
    static final String SOCKET_NAME = "clh-api.sock";
    static final String LOG_NAME = "cloud-hypervisor.log";
    static final String SERIAL_NAME = "serial.log";

    private static final Logger LOG = LoggerFactory.getLogger(ClhHypervisor.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    // Linux's sun_path holds 108 bytes including the terminating NUL
    private static final int MAX_SOCKET_PATH = 107;
    private static final Duration READY_POLL = Duration.ofMillis(10);
    /** How often the endpoint watcher tries the API socket while someone subscribes. */
    static final Duration WATCH_PERIOD = Duration.ofSeconds(1);
    /** How often stop looks whether an endpoint's socket still listens after vmm.shutdown was not confirmed. */
    private static final Duration STOP_POLL = Duration.ofMillis(20);

    private final String vmId;
    private final HostContext host;
    private final ClhSettings settings;
    private final Optional<VmSpec> spec;
    private final int vcpus;
    private final boolean cacheDirect;
    private final boolean spawn;
    private final List<Consumer<VmEvent>> listeners = new CopyOnWriteArrayList<>();
    private final DeviceHotplug hotplugView = new HotplugView();
    private final NetworkHotplug networkView = new NetworkView();

    // written under the monitor by start/stop/reattach, read without it by state() and friends
    private volatile Path runtimeDir;
    private volatile Path socket;
    private volatile Instant createdAt;
    private volatile ClhApiClient api;
    private volatile ClhDeviceHotplug hotplug;
    private volatile ClhNetworkHotplug network;
    private volatile Optional<ClhProcess> process = Optional.empty();
    private volatile long pid;
    private volatile boolean booted;
    private volatile Lifecycle life;
    private volatile boolean stopping;
    private volatile boolean closed;
    /**
     * The lock of every device change and of the save that records it, shared by the disk and
     * network hotplugs (one id namespace; each hotplug with its own lock, a disk attach and a NIC
     * attach at once each held one and waited for the other's). Stop does not take it: it must
     * not wait for an attach the VMM is slow to answer.
     */
    private final Object deviceLock = new Object();
    /** Taken after {@link #deviceLock} when both are: guards the record against a save racing stop's removal of it. */
    private final Object recordLock = new Object();
    /**
     * Set by teardown with the record and runtime directory removed, under {@link #recordLock}: an
     * attach that the VMM answered just before stop saves no record after that (a save would make
     * the runtime directory again, with the record of a VM that is gone).
     */
    private boolean removed;
    private final AtomicBoolean exitPublished = new AtomicBoolean();
    /**
     * With an endpoint there is no process to watch: while someone subscribes, this thread holds a
     * connection to the API socket, looks at it every {@link #WATCH_PERIOD}, and reports a VMM that
     * went away. Guarded by {@link #watchLock}.
     */
    private Thread watcher;
    private final Object watchLock = new Object();

    /** A VM to be started. */
    ClhHypervisor(VmSpec spec, HostContext host, ClhSettings settings) {
        this.vmId = spec.vmId();
        this.host = host;
        this.settings = settings;
        this.spec = Optional.of(spec);
        this.vcpus = spec.vcpus();
        this.cacheDirect = spec.block().cacheSet() && spec.block().cacheDirect();
        this.spawn = host.option("endpoint").isEmpty();
        this.life = Lifecycle.created(TYPE, vmId);
    }

    /** A VM an earlier process started, as its record describes it. */
    private ClhHypervisor(VmRecord record, HostContext host, PluginState state) {
        this.vmId = record.vmId();
        this.host = host;
        this.settings = state.settings();
        this.spec = Optional.empty();
        this.vcpus = state.vcpus();
        this.cacheDirect = state.cacheDirect();
        this.spawn = state.spawned();
        this.runtimeDir = record.runtimeDir();
        this.socket = state.socket();
        this.createdAt = record.createdAt();
        this.pid = record.pid();
        this.life = Lifecycle.created(TYPE, vmId); // until the VMM answers
    }

    /** Connects to the VM of {@code record}; {@link VmmUnavailableException} when its VMM is gone. */
    static ClhHypervisor reattach(VmRecord record, HostContext host) {
        PluginState state = PluginState.parse(record);
        ClhHypervisor vm = new ClhHypervisor(record, host, state);
        if (state.spawned()) {
            vm.process = ClhProcess.find(record.pid(), state.socket(), Optional.of(record.runtimeDir().resolve(LOG_NAME)));
            if (vm.process.isEmpty()) {
                throw new VmmUnavailableException(VmmUnavailableException.Reason.EXITED,
                        "clh: VM '" + record.vmId() + "' is gone: cloud-hypervisor pid " + record.pid() + " no longer runs");
            }
        }
        vm.api = new ClhApiClient(state.socket(), vm.vmId);
        try {
            vm.pid = vm.ping();
            JsonNode info = vm.vmInfo();
            vm.booted = !"Created".equals(info.path("state").asText());
            vm.newHotplugs();
            vm.hotplug.restore(devicesFrom(info));
            vm.network.restore(netsFrom(info, record));
            vm.life = Lifecycle.reattached(TYPE, vm.vmId, vm.booted ? VmState.RUNNING : VmState.PAUSED);
            vm.watchProcess();
            vm.watchEndpoint();
            return vm;
        } catch (RuntimeException e) {
            vm.close();
            throw e;
        }
    }

    @Override
    public String vmId() {
        return vmId;
    }

    @Override
    public String type() {
        return TYPE;
    }

    @Override
    public synchronized void start() {
        life.beginStart();
        VmSpec vmSpec = spec.orElseThrow();
        closed = false;
        exitPublished.set(false);
        synchronized (recordLock) {
            removed = false;
        }
        try {
            runtimeDir = host.createRuntimeDir(vmId);
        } catch (RuntimeException e) {
            life.startFailed(); // taken or unsafe id: nothing of ours to undo
            throw e;
        }
        try {
            socket = host.option("endpoint").map(Path::of).orElse(runtimeDir.resolve(SOCKET_NAME));
            checkSocketPath(socket);
            if (spawn) {
                process = Optional.of(ClhProcess.spawn(vmSpec.binary(), socket, runtimeDir.resolve(LOG_NAME)));
                pid = process.get().pid();
            }
            api = new ClhApiClient(socket, vmId);
            long reported = awaitReady();
            if (spawn) {
                restrictSocket(socket);
            } else {
                pid = reported;
            }
            api.put("/vm.create", Payloads.vmConfig(vmSpec, settings.maxVcpus(), runtimeDir.resolve(SERIAL_NAME)),
                    settings.bootTimeout());
            newHotplugs();
            api.put("/vm.boot", settings.bootTimeout());
            booted = true;
            life.started(VmState.RUNNING);
            createdAt = Instant.now();
            saveState();
            watchProcess();
            watchEndpoint();
        } catch (RuntimeException e) {
            LOG.debug("start of VM '{}' failed; cleaning up", vmId, e);
            teardown(false);
            life.startFailed();
            throw e;
        }
    }

    /**
     * Shuts the VM and the VMM down and removes every trace. A VMM it spawned is ended by
     * signal when it does not exit. With an endpoint (no process of its own) the record is
     * removed only with proof that the VMM is gone: it answered {@code vmm.shutdown}, or the
     * socket refuses connections within the stop timeout (a connection that ended is not enough
     * alone: a VMM whose backlog is full fails connects too); otherwise this throws
     * {@link VmmUnavailableException} ({@code TIMED_OUT}) and keeps the record and the
     * connection, so that a later stop retries.
     */
    @Override
    public synchronized void stop() {
        if (life.beginStop() && runtimeDir != null) {
            try {
                teardown(true);
            } catch (VmmUnavailableException e) {
                watchEndpoint(); // the VM counts as started again: a subscriber is still told when it goes
                throw e;
            }
        }
    }

    /**
     * Shuts the VM and the VMM down (a VMM already gone counts as shut down), then removes
     * every trace. With {@code proveGone} (stop) and an endpoint, gives up instead when the
     * VMM may still run; a failed start ({@code false}) cleans up whatever it meets.
     */
    private void teardown(boolean proveGone) {
        stopping = true;
        if (api != null) {
            if (booted) {
                quietly(() -> api.put("/vm.shutdown", settings.apiTimeout()), "vm.shutdown");
            }
            String notConfirmed = null;
            try {
                api.put("/vmm.shutdown", settings.apiTimeout());
            } catch (VmmUnavailableException e) {
                // even EXITED is no proof alone: the socket must refuse connections too (below)
                LOG.debug("VM '{}': vmm.shutdown during stop: {}", vmId, e.getMessage());
                notConfirmed = e.getMessage();
            } catch (VmmException e) {
                LOG.debug("VM '{}': vmm.shutdown during stop: {}", vmId, e.getMessage());
                notConfirmed = "refused: " + e.getMessage();
            }
            process.ifPresent(p -> p.awaitExitOrKill(settings.stopTimeout()));
            if (proveGone && process.isEmpty() && notConfirmed != null && !awaitRefusal(settings.stopTimeout())) {
                stopping = false;
                life.stopFailed();
                throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT, "clh: cannot stop VM '"
                        + vmId + "' at endpoint " + socket + ": vmm.shutdown not confirmed (" + notConfirmed
                        .replace('\n', ' ') + ") and the API socket still takes connections "
                        + settings.stopTimeout().toMillis() + " ms later; kept its record, stop again to retry");
            }
            vmmExited();
        }
        close();
        if (runtimeDir != null) {
            synchronized (recordLock) {
                removed = true;
                host.removeRuntimeDir(vmId);
                host.stateStore().remove(vmId);
            }
        }
        api = null;
        hotplug = null;
        network = null;
        process = Optional.empty();
        runtimeDir = null;
        booted = false;
        stopping = false;
    }

    @Override
    public synchronized void pause() {
        requireStarted("pause");
        reporting(() -> api.put("/vm.pause", settings.apiTimeout()));
        life.paused();
    }

    /** Resumes a paused VM; boots one that was created without being booted. */
    @Override
    public synchronized void resume() {
        requireStarted("resume");
        if (!booted) {
            reporting(() -> api.put("/vm.boot", settings.bootTimeout()));
            booted = true;
            life.resumed();
            return;
        }
        reporting(() -> api.put("/vm.resume", settings.apiTimeout()));
        life.resumed();
    }

    /**
     * From {@code vm.info}: Running, Paused, and Created (not booted) as
     * {@link VmState#PAUSED}; {@link VmState#FAILED} when the VMM is gone
     * although nobody stopped it (with an endpoint: when its socket refuses
     * connections; a VMM that only does not answer throws {@code TIMED_OUT}).
     */
    @Override
    public VmState state() {
        VmState known = life.state();
        if (known == VmState.CREATED || known == VmState.STOPPED || known == VmState.FAILED) {
            return known;
        }
        try {
            return switch (vmInfo().path("state").asText()) {
                case "Running" -> VmState.RUNNING;
                case "Paused", "Created" -> VmState.PAUSED;
                case "Shutdown" -> VmState.STOPPED;
                default -> known;
            };
        } catch (VmmUnavailableException e) {
            if (e.reason() == VmmUnavailableException.Reason.EXITED) {
                if (spawn || VmmSockets.refusesConnections(socket)) {
                    vmmGone();
                    return VmState.FAILED;
                }
                // with an endpoint, a VMM whose socket still takes connections is there: no proof of an exit
                throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT, e.getMessage()
                        + "; its API socket still takes connections", e);
            }
            throw e;
        }
    }

    /**
     * Waits up to {@code timeout} until nothing listens on the endpoint's socket; true then. Holds
     * one connection while it waits (see {@link VmmSockets#awaitRefusal}): a VMM that closes the
     * connection just before its listener is seen gone, and a hung one gets one connection more in
     * its backlog, not one per check.
     */
    private boolean awaitRefusal(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            return VmmSockets.awaitRefusal(socket, STOP_POLL, () -> System.nanoTime() - deadline < 0);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return VmmSockets.refusesConnections(socket);
        }
    }

    /**
     * A call found the VMM unreachable ({@code EXITED}): unless a stop is under way, the VM
     * failed, and a subscriber hears {@code VMM_EXITED} (once).
     */
    private void vmmGone() {
        if (stopping || closed) {
            return;
        }
        if (life.failed()) {
            LOG.warn("VM '{}': cloud-hypervisor on {} is gone", vmId, socket);
        }
        if (life.state() == VmState.FAILED) {
            vmmExited();
        }
    }

    /** Runs {@code call}; when it finds the VMM gone, reports that before failing as it did. */
    private <T> T reporting(java.util.function.Supplier<T> call) {
        try {
            return call.get();
        } catch (VmmUnavailableException e) {
            if (e.reason() == VmmUnavailableException.Reason.EXITED && (process.isPresent()
                    ? !process.get().isAlive() : VmmSockets.refusesConnections(socket))) {
                vmmGone();
            }
            throw e;
        }
    }

    @Override
    public Set<Capability> capabilities() {
        return ClhHypervisorFactory.DECLARED;
    }

    /**
     * The VMM's main thread, vCPUs and per-queue disk workers from
     * {@code /proc/<pid>/task}, where pid is the spawned process or, with an
     * endpoint, the pid {@code vmm.ping} reports.
     */
    @Override
    public HostThreads hostThreads() {
        requireStarted("list the threads of");
        List<ThreadScanner.Disk> disks = hotplugView.list().stream()
                .map(d -> new ThreadScanner.Disk(d.id(), d.queues())).toList();
        return ThreadScanner.system().scan(pid, disks);
    }

    /**
     * Delivers {@code VMM_EXITED} once, when the VMM is gone: the spawned process exited,
     * {@link #stop()} shut the VMM down, or (with an endpoint, where there is no process)
     * the API socket stopped taking connections, which a watcher checks every
     * {@link #WATCH_PERIOD} (on one connection it holds) while there are subscribers, and any call that finds the VMM
     * gone reports. Cloud Hypervisor's API itself has no event stream.
     */
    @Override
    public Subscription subscribe(Consumer<VmEvent> listener) {
        listeners.add(listener);
        watchEndpoint();
        return () -> listeners.remove(listener);
    }

    @Override
    public Optional<IOThreadProvider> ioThreads() {
        return Optional.empty();
    }

    /** Always present, as {@link Capability#BLOCK_DEVICE_HOTPLUG} is declared; refuses work while no VMM runs. */
    @Override
    public Optional<DeviceHotplug> hotplug() {
        return Optional.of(hotplugView);
    }

    /** Always present, as {@link Capability#NETWORK_DEVICE_HOTPLUG} is declared; refuses work while no VMM runs. */
    @Override
    public Optional<NetworkHotplug> networkHotplug() {
        return Optional.of(networkView);
    }

    @Override
    public void close() {
        Thread w;
        synchronized (this) {
            closed = true;
            if (api != null) {
                api.close();
            }
        }
        synchronized (watchLock) {
            w = watcher;
            watcher = null;
        }
        if (w != null && w != Thread.currentThread()) {
            w.interrupt();
        }
    }

    /** The timeouts in force (for tests). */
    ClhSettings settings() {
        return settings;
    }

    /** The host context it was made with (for tests). */
    HostContext host() {
        return host;
    }

    /** The API socket (for diagnostics and tests). */
    Path socket() {
        return socket;
    }

    /** The API client (for tests that send raw requests). */
    ClhApiClient api() {
        return api;
    }

    // ---- internals

    /** The disk and network hotplugs of a new API connection, sharing one id namespace. */
    private void newHotplugs() {
        ClhDeviceHotplug disks = new ClhDeviceHotplug(api, deviceLock, vcpus, cacheDirect,
                settings.hotplugTimeout(), settings.apiTimeout(), () -> booted, this::saveState);
        ClhNetworkHotplug nets = new ClhNetworkHotplug(api, deviceLock, settings.hotplugTimeout(),
                settings.apiTimeout(), () -> booted, this::saveState, disks::has);
        disks.shareIdsWith(nets::has);
        hotplug = disks;
        network = nets;
    }

    /** Polls {@code vmm.ping} until it answers or the start timeout passes; returns the pid it reports. */
    private long awaitReady() {
        Instant deadline = Instant.now().plus(settings.startTimeout());
        while (true) {
            if (process.isPresent() && !process.get().isAlive()) {
                String last = process.get().lastLogLine();
                throw new VmmUnavailableException(VmmUnavailableException.Reason.EXITED, "clh: cloud-hypervisor exited"
                        + " before answering on " + socket + (last.isEmpty() ? "" : "; its last words: " + last));
            }
            try {
                return ping();
            } catch (VmmUnavailableException e) {
                if (!Instant.now().plus(READY_POLL).isBefore(deadline)) {
                    throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT, "clh: no answer to vmm.ping on "
                            + socket + " within " + settings.startTimeout().toMillis() + " ms: " + e.getMessage(), e);
                }
            }
            try {
                Thread.sleep(READY_POLL);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT,
                        "clh: interrupted while waiting for " + socket);
            }
        }
    }

    private long ping() {
        JsonNode pong = api.get("/vmm.ping", settings.apiTimeout()).requireBody("GET /api/v1/vmm.ping");
        LOG.debug("VM '{}': Cloud Hypervisor {} (pid {})", vmId, pong.path("version").asText(), pong.path("pid").asLong());
        return pong.path("pid").asLong();
    }

    private JsonNode vmInfo() {
        return api.get("/vm.info", settings.apiTimeout()).requireBody("GET /api/v1/vm.info");
    }

    /** The hotplugged disks in {@code vm.info}: its configuration's disks with their PCI addresses from the device tree. */
    static List<BlockDevice> devicesFrom(JsonNode info) {
        List<BlockDevice> devices = new ArrayList<>();
        JsonNode tree = info.path("device_tree");
        for (JsonNode disk : info.path("config").path("disks")) {
            String id = disk.path("id").asText("");
            if (id.isEmpty() || id.startsWith("_")) {
                continue; // the root image, or a disk hvspi did not add
            }
            Optional<String> bdf = pciAddress(tree, id);
            devices.add(new BlockDevice(id, "virtio-blk-pci", BlockBackend.path(Path.of(disk.path("path").asText())),
                    disk.path("readonly").asBoolean(false), List.of(), disk.path("num_queues").asInt(1), bdf));
        }
        return devices;
    }

    /**
     * The hotplugged network devices in {@code vm.info}, with their PCI addresses; whether
     * hvspi asked for the tap to be created comes from the record (the VMM does not know).
     */
    static List<NetDevice> netsFrom(JsonNode info, VmRecord record) {
        Set<String> created = new java.util.HashSet<>();
        try {
            JSON.readTree(record.pluginState()).path("nets").forEach(n -> {
                if (n.path("create").asBoolean(false)) {
                    created.add(n.path("id").asText());
                }
            });
        } catch (IOException e) {
            throw new HvspiException("clh: corrupt plugin state of VM '" + record.vmId() + "': " + e.getMessage(), e);
        }
        List<NetDevice> nets = new ArrayList<>();
        JsonNode tree = info.path("device_tree");
        for (JsonNode net : info.path("config").path("net")) {
            String id = net.path("id").asText("");
            if (id.isEmpty() || id.startsWith("_") || !net.hasNonNull("tap")) {
                continue; // a device hvspi did not add
            }
            Optional<String> bdf = pciAddress(tree, id);
            nets.add(new NetDevice(id, net.path("mac").asText(), new NetBackend.Tap(net.get("tap").asText(),
                    created.contains(id)), Math.max(1, net.path("num_queues").asInt(2) / 2), bdf));
        }
        return nets;
    }

    /**
     * The PCI address of device {@code id} in {@code vm.info}'s device tree: a virtio device's
     * node has no address (null {@code pci_bdf}) and its parent, the {@code _virtio-pci-<id>}
     * transport node, holds it (Cloud Hypervisor's {@code add_virtio_pci_device}).
     */
    static Optional<String> pciAddress(JsonNode tree, String id) {
        JsonNode node = tree.path(id);
        Optional<String> own = Optional.ofNullable(node.path("pci_bdf").textValue());
        return own.or(() -> Optional.ofNullable(tree.path(node.path("parent").asText("")).path("pci_bdf").textValue()));
    }

    private void watchProcess() {
        process.ifPresent(p -> p.onExit().thenRun(() -> {
            if (closed) {
                return; // disconnected: another instance (or nobody) watches this VM now
            }
            if (!stopping && life.failed()) {
                LOG.warn("VM '{}': cloud-hypervisor pid {} exited unexpectedly", vmId, p.pid());
            }
            vmmExited();
        }));
    }

    /**
     * With an endpoint, starts the watcher unless one runs: only while the VM is started and
     * someone subscribes. It ends when the VMM is gone, the VM stopped, the handle closed, or the
     * last subscriber left.
     */
    private void watchEndpoint() {
        Path watched = socket;
        synchronized (watchLock) {
            if (spawn || closed || watcher != null || listeners.isEmpty() || !life.isStarted() || watched == null) {
                return;
            }
            watcher = Thread.ofPlatform().daemon().name("clh-watch-" + vmId).unstarted(() -> watch(watched));
            watcher.start();
        }
    }

    /**
     * Holds one connection to the socket and looks at it every {@link #WATCH_PERIOD}, rather than
     * connecting once a period: a stopped (SIGSTOP) or hung VMM accepts nothing, and each probe would
     * stay in its accept backlog until that is full. See {@link VmmSockets#awaitRefusal}.
     */
    private void watch(Path watched) {
        try {
            if (VmmSockets.awaitRefusal(watched, WATCH_PERIOD,
                    () -> !closed && life.isStarted() && !listeners.isEmpty() && !exitPublished.get())) {
                vmmGone();
            }
        } catch (InterruptedException e) {
            // closed or stopped
        } finally {
            synchronized (watchLock) {
                if (watcher == Thread.currentThread()) {
                    watcher = null;
                }
            }
        }
        // a subscriber that arrived as this one ended starts a new one
        if (!listeners.isEmpty() && !closed && life.isStarted() && !exitPublished.get()) {
            watchEndpoint();
        }
    }

    /** Publishes {@code VMM_EXITED} once: when the process ends, or when stop() shut the VMM down. */
    private void vmmExited() {
        if (exitPublished.compareAndSet(false, true)) {
            publish(new VmEvent(VmEvent.VMM_EXITED, Instant.now(), Map.of("pid", pid)));
        }
    }

    /** Delivers on a thread of its own: the only event is VMM_EXITED, once per VM. */
    private void publish(VmEvent event) {
        List<Consumer<VmEvent>> targets = List.copyOf(listeners);
        if (targets.isEmpty()) {
            return;
        }
        Thread.ofPlatform().daemon().name("clh-events-" + vmId).start(() -> {
            for (Consumer<VmEvent> listener : targets) {
                try {
                    listener.accept(event);
                } catch (RuntimeException e) {
                    LOG.warn("VM '{}': event listener failed on {}", vmId, event.name(), e);
                }
            }
        });
    }

    /** Records the VM and its devices; nothing once teardown removed the record. */
    void saveState() {
        synchronized (deviceLock) {
            synchronized (recordLock) {
                if (!removed) {
                    host.stateStore().save(currentRecord());
                }
            }
        }
    }

    private VmRecord currentRecord() {
        ObjectNode state = PluginState.toJson(new PluginState(socket, spawn, vcpus, cacheDirect, settings),
                hotplug == null ? List.of() : hotplug.list());
        ArrayNode nets = state.putArray("nets");
        for (NetDevice n : network == null ? List.<NetDevice>of() : network.list()) {
            NetBackend.Tap tap = (NetBackend.Tap) n.backend();
            ObjectNode entry = nets.addObject().put("id", n.id()).put("tap", tap.name()).put("create", tap.create())
                    .put("mac", n.mac()).put("queues", n.queues());
            n.address().ifPresent(a -> entry.put("bdf", a));
        }
        return new VmRecord(vmId, TYPE, pid, runtimeDir, createdAt == null ? Instant.now() : createdAt,
                state.toString());
    }

    private void requireStarted(String action) {
        life.requireStarted(action);
    }

    /** The VMM creates its socket under its umask; hvspi's sockets are 0600 (the 0700 runtime dir guards it too). */
    private void restrictSocket(Path path) {
        try {
            Files.setPosixFilePermissions(path, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        } catch (IOException | UnsupportedOperationException e) {
            LOG.warn("VM '{}': cannot set mode 0600 on {}: {}", vmId, path, e.toString());
        }
    }

    private static void checkSocketPath(Path socket) {
        String text = socket.toString();
        if (text.getBytes(StandardCharsets.UTF_8).length > MAX_SOCKET_PATH) {
            throw new RequestRejectedException(RequestRejectedException.Reason.INVALID_ARGUMENT, "clh: API socket path "
                    + socket + " is longer than a Unix socket allows (" + MAX_SOCKET_PATH + " bytes); use a shorter runtime root");
        }
        if (text.contains(",")) {
            // Cloud Hypervisor splits --api-socket's value at commas
            throw new RequestRejectedException(RequestRejectedException.Reason.INVALID_ARGUMENT,
                    "clh: API socket path " + socket + " contains a comma, which --api-socket cannot take");
        }
    }

    private void quietly(Runnable call, String what) {
        try {
            call.run();
        } catch (VmmException | VmmUnavailableException e) {
            LOG.debug("VM '{}': {} during stop: {}", vmId, what, e.getMessage());
        }
    }

    /** A view of the running VMM ({@code current}), or a refusal while there is none (before start, after stop). */
    private <T> T connected(T current, String action) {
        if (current == null) {
            life.requireStarted(action);
            throw new RequestRejectedException(RequestRejectedException.Reason.INVALID_STATE, "clh: cannot "
                    + action + " VM '" + vmId + "': it has no API connection");
        }
        return current;
    }

    /** The hotplug of the running VMM, or a refusal while there is none. */
    private final class HotplugView implements DeviceHotplug {
        private ClhDeviceHotplug current(String action) {
            return connected(hotplug, action);
        }

        @Override
        public BlockDevice attach(BlockDeviceSpec spec) {
            ClhDeviceHotplug h = current("attach '" + spec.id() + "' to");
            return reporting(() -> h.attach(spec));
        }

        @Override
        public void detach(String deviceId, Duration timeout) {
            ClhDeviceHotplug h = current("detach '" + deviceId + "' from");
            reporting(() -> {
                h.detach(deviceId, timeout);
                return null;
            });
        }

        @Override
        public List<BlockDevice> list() {
            ClhDeviceHotplug current = hotplug;
            return current == null ? List.of() : current.list();
        }

        @Override
        public BlockDevice move(String deviceId, IOThreadChoice target) {
            return ClhDeviceHotplug.unsupportedMove(deviceId);
        }
    }

    /** The network hotplug of the running VMM, or a refusal while there is none. */
    private final class NetworkView implements NetworkHotplug {
        private ClhNetworkHotplug current(String action) {
            return connected(network, action);
        }

        @Override
        public NetDevice attach(NetDeviceSpec spec) {
            ClhNetworkHotplug n = current("attach '" + spec.id() + "' to");
            return reporting(() -> n.attach(spec));
        }

        @Override
        public void detach(String deviceId, Duration timeout) {
            ClhNetworkHotplug n = current("detach '" + deviceId + "' from");
            reporting(() -> {
                n.detach(deviceId, timeout);
                return null;
            });
        }

        @Override
        public List<NetDevice> list() {
            ClhNetworkHotplug current = network;
            return current == null ? List.of() : current.list();
        }
    }

    /**
     * What the plugin records in the state store so that another process can
     * reattach: the socket, whether it spawned the VMM, the VM's vCPUs and cache
     * mode, the settings, and the devices (informational; a reattach reads them
     * from {@code vm.info}).
     */
    record PluginState(Path socket, boolean spawned, int vcpus, boolean cacheDirect, ClhSettings settings) {

        static ObjectNode toJson(PluginState s, List<BlockDevice> devices) {
            ObjectNode node = JSON.createObjectNode()
                    .put("socket", s.socket().toString())
                    .put("spawned", s.spawned())
                    .put("vcpus", s.vcpus())
                    .put("cacheDirect", s.cacheDirect())
                    .put("apiTimeoutMs", s.settings().apiTimeout().toMillis())
                    .put("hotplugTimeoutMs", s.settings().hotplugTimeout().toMillis())
                    .put("bootTimeoutMs", s.settings().bootTimeout().toMillis())
                    .put("startTimeoutMs", s.settings().startTimeout().toMillis())
                    .put("stopTimeoutMs", s.settings().stopTimeout().toMillis())
                    .put("maxVcpus", s.settings().maxVcpus());
            ArrayNode list = node.putArray("devices");
            for (BlockDevice d : devices) {
                ObjectNode entry = list.addObject().put("id", d.id()).put("readOnly", d.readOnly()).put("queues", d.queues());
                if (d.backend() instanceof BlockBackend.HostPath h) {
                    entry.put("path", h.path().toString());
                }
                d.address().ifPresent(a -> entry.put("bdf", a));
            }
            return node;
        }

        static PluginState parse(VmRecord record) {
            try {
                JsonNode n = JSON.readTree(record.pluginState());
                ClhSettings d = ClhSettings.KATA_DEFAULTS;
                return new PluginState(Path.of(n.path("socket").asText()), n.path("spawned").asBoolean(true),
                        n.path("vcpus").asInt(1), n.path("cacheDirect").asBoolean(false),
                        new ClhSettings(Duration.ofMillis(n.path("apiTimeoutMs").asLong(d.apiTimeout().toMillis())),
                                Duration.ofMillis(n.path("hotplugTimeoutMs").asLong(d.hotplugTimeout().toMillis())),
                                Duration.ofMillis(n.path("bootTimeoutMs").asLong(d.bootTimeout().toMillis())),
                                Duration.ofMillis(n.path("startTimeoutMs").asLong(d.startTimeout().toMillis())),
                                Duration.ofMillis(n.path("stopTimeoutMs").asLong(d.stopTimeout().toMillis())),
                                n.path("maxVcpus").asInt(0)));
            } catch (IOException | RuntimeException e) {
                throw new HvspiException("clh: corrupt plugin state of VM '" + record.vmId() + "': " + e.getMessage(), e);
            }
        }
    }
}
