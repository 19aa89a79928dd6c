package io.hvspi.plugin.qemu;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.plugin.qemu.cmdline.QemuCommandLine;
import io.hvspi.plugin.qemu.hotplug.DeviceTable;
import io.hvspi.plugin.qemu.hotplug.QemuDeviceHotplug;
import io.hvspi.plugin.qemu.iothread.IOThreadPool;
import io.hvspi.plugin.qemu.iothread.QemuIOThreads;
import io.hvspi.plugin.qemu.probe.ProbeResult;
import io.hvspi.plugin.qemu.probe.QemuProbe;
import io.hvspi.plugin.qemu.process.QemuProcess;
import io.hvspi.plugin.qemu.process.RuntimeLayout;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.qmp.QmpEvent;
import io.hvspi.plugin.qemu.qmp.QmpListener;
import io.hvspi.plugin.qemu.state.DeviceState;
import io.hvspi.plugin.qemu.state.QemuSettings;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Capability;
import io.hvspi.spi.ConfigException;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.HostThreads.HostThread;
import io.hvspi.spi.HostThreads.Role;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.IOThreadInfo.Kind;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.PollingParams;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
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
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One QEMU VM. Made by {@link QemuHypervisorFactory}: {@code create} for a new VM,
 * {@code reattach} for one an earlier process started.
 *
 * <p>{@link #start()} creates the VM's private runtime directory, spawns QEMU
 * paused ({@code -S}), connects QMP, probes the binary, records the VM, and
 * resumes it when there is a guest (unless the host option
 * {@value #OPTION_START_PAUSED} is {@code true}). The guest's serial console is the
 * socket {@code console.sock} in the runtime directory, logged to {@code console.log}. The plugin state (QMP socket, IOThreads,
 * root ports, devices) is saved through the host's state store after every change
 * QEMU confirmed, so that {@code reattach} sees what this instance saw.
 */
public final class QemuHypervisor implements Hypervisor {
    private static final Logger LOG = LoggerFactory.getLogger(QemuHypervisor.class);
    /**
     * Host option: {@code true} leaves a VM with a guest paused after {@link #start()},
     * so that a client can connect to the console socket before the guest's first
     * output; {@link #resume()} runs it.
     */
    public static final String OPTION_START_PAUSED = "start-paused";
    private static final Set<Capability> IOTHREAD_FAMILY = EnumSet.of(Capability.INDEPENDENT_IOTHREADS,
            Capability.IOTHREAD_RUNTIME_ADD, Capability.IOTHREAD_POLLING, Capability.IOTHREAD_VQ_MAPPING,
            Capability.IOTHREAD_MOVE);

    private static final Pattern NODE_NAME = Pattern.compile(DeviceTable.NODE_PREFIX + "(\\d+)");

    private final String vmId;
    private final HostContext host;
    private final Optional<VmSpec> spec;
    private final QemuSettings settings;
    private final Set<Capability> configured;
    /** Guards the device table and the pool together, so that a saved snapshot is consistent. */
    private final Object model = new Object();
    private final Object lifecycle = new Object();
    private final IOThreadProvider ioThreadsView = new IOThreadsView();
    private final DeviceHotplug hotplugView = new HotplugView();
    private volatile VmState state;
    private volatile Session session;
    private volatile boolean closed;
    private volatile boolean stopping;

    private QemuHypervisor(String vmId, HostContext host, Optional<VmSpec> spec, QemuSettings settings,
                           VmState state) {
        this.vmId = vmId;
        this.host = host;
        this.spec = spec;
        this.settings = settings;
        this.configured = configured(settings);
        this.state = state;
    }

    /** A VM to be started; the spec is already validated. */
    static QemuHypervisor create(VmSpec spec, HostContext host) {
        return new QemuHypervisor(spec.vmId(), host, Optional.of(spec), settings(spec), VmState.CREATED);
    }

    /** Connects to a running VM from its record. */
    static QemuHypervisor reattach(VmRecord record, HostContext host) {
        QemuState saved = QemuState.fromJson(record.pluginState());
        QemuHypervisor hv = new QemuHypervisor(record.vmId(), host, Optional.empty(), saved.settings(),
                VmState.CREATED);
        RuntimeLayout layout = new RuntimeLayout(record.runtimeDir());
        Optional<QemuProcess> process = Optional.empty();
        if (!saved.endpoint()) {
            process = Optional.of(QemuProcess.adopt(record.pid(), layout).orElseThrow(() ->
                    new VmmUnavailableException(VmmUnavailableException.Reason.EXITED,
                            "QEMU of VM '" + record.vmId() + "' (pid " + record.pid() + ") is not running")));
        }
        QmpClient qmp = QmpClient.connect(Path.of(saved.qmpSocket()), host.commandTimeout());
        try {
            hv.session = hv.new Session(layout, process, qmp, QemuProbe.probe(qmp), withNodeCounterPast(saved, qmp),
                    record.createdAt());
            hv.session.reconcile();
            hv.state = hv.session.queryState();
            return hv;
        } catch (RuntimeException e) {
            if (hv.session != null) {
                hv.session.close();
            }
            qmp.close();
            throw e;
        }
    }

    /**
     * Moves the node counter past every {@code hvspi-node<n>} QEMU has: a node whose
     * {@code blockdev-del} failed, or one made after the last saved state, must never
     * have its name handed out again.
     */
    private static QemuState withNodeCounterPast(QemuState saved, QmpClient qmp) {
        long next = saved.nextNode();
        for (JsonNode node : qmp.execute("query-named-block-nodes", QmpClient.args().put("flat", true))) {
            Matcher m = NODE_NAME.matcher(node.path("node-name").asText());
            if (m.matches()) {
                next = Math.max(next, Long.parseLong(m.group(1)) + 1);
            }
        }
        return next == saved.nextNode() ? saved : new QemuState(saved.format(), saved.settings(), saved.qmpSocket(),
                saved.endpoint(), saved.ioThreads(), saved.rootPorts(), saved.scsiController(), saved.policyTurn(),
                next, saved.devices());
    }

    static QemuSettings settings(VmSpec spec) {
        Map<String, Object> table = spec.table();
        boolean fsSharing = !"none".equals(String.valueOf(table.getOrDefault("shared_fs", "")))
                && !Boolean.TRUE.equals(table.get("confidential_guest"));
        VmSpec.BlockOptions b = spec.block();
        return new QemuSettings(spec.binary().toString(), spec.accel(), spec.vcpus(),
                spec.kernel().isEmpty() && spec.image().isEmpty(), b.driver(), b.aio(), b.cacheSet() && b.cacheDirect(),
                b.cacheSet() && b.cacheNoflush(), spec.ioThreads().enabled(), spec.ioThreads().policy(), fsSharing);
    }

    /** The declared capabilities, narrowed by the configuration (before any probing). */
    static Set<Capability> configured(QemuSettings settings) {
        Set<Capability> out = EnumSet.copyOf(QemuHypervisorFactory.DECLARED);
        if (!settings.ioThreadsEnabled()) {
            out.removeAll(IOTHREAD_FAMILY);
        }
        if (!settings.fsSharing()) {
            out.remove(Capability.FS_SHARING);
        }
        return out;
    }

    @Override
    public String vmId() {
        return vmId;
    }

    @Override
    public String type() {
        return QemuHypervisorFactory.TYPE;
    }

    @Override
    public void start() {
        synchronized (lifecycle) {
            checkOpen();
            VmSpec s = spec.orElse(null);
            if (state != VmState.CREATED || s == null) {
                throw new RequestRejectedException(Reason.INVALID_STATE,
                        "VM '" + vmId + "' cannot be started: it is " + state.name().toLowerCase());
            }
            QemuHypervisorFactory.checkGuestFiles(s);
            Path dir = host.createRuntimeDir(vmId);
            RuntimeLayout layout = new RuntimeLayout(dir);
            Optional<QemuProcess> process = Optional.empty();
            QmpClient qmp = null;
            try {
                if (!layout.socketPathFits()) {
                    throw new ConfigException(null, 0, 0, null, "QMP socket path " + layout.qmpSocket() + " is longer"
                            + " than " + RuntimeLayout.MAX_SOCKET_PATH_BYTES + " bytes; use a shorter runtime root");
                }
                QemuCommandLine.Plan plan = QemuCommandLine.build(s, layout);
                Optional<String> endpoint = host.option("endpoint");
                Path socket;
                if (endpoint.isPresent()) {
                    socket = Path.of(endpoint.get());
                } else {
                    LOG.debug("starting VM '{}': {}", vmId, plan.argv());
                    process = Optional.of(QemuProcess.spawn(plan.argv(), layout));
                    process.get().awaitSocket(host.commandTimeout());
                    socket = layout.qmpSocket();
                }
                qmp = connect(socket, process);
                List<QemuState.IOThreadState> ioThreads = new ArrayList<>();
                plan.pool().forEach(id -> ioThreads.add(new QemuState.IOThreadState(id, Kind.POOL)));
                plan.scsiIoThread().ifPresent(id -> ioThreads.add(new QemuState.IOThreadState(id, Kind.CONTROLLER)));
                QemuState initial = new QemuState(QemuState.FORMAT, settings, socket.toString(), endpoint.isPresent(),
                        ioThreads, plan.rootPorts(), plan.scsiController(), 0, 0, List.of());
                session = new Session(layout, process, qmp, QemuProbe.probe(qmp), initial, Instant.now());
                synchronized (model) {
                    session.persist();
                }
                if (process.isPresent()) {
                    QemuProcess.makePrivate(layout.consoleSocket());
                }
                if (!settings.guestless() && !host.option(OPTION_START_PAUSED).map(Boolean::parseBoolean)
                        .orElse(false)) {
                    qmp.execute("cont");
                }
                state = session.queryState();
            } catch (RuntimeException e) {
                state = VmState.FAILED;
                RuntimeException reported = process.filter(p -> !p.isAlive())
                        .<RuntimeException>map(p -> new VmmUnavailableException(VmmUnavailableException.Reason.EXITED,
                                "QEMU of VM '" + vmId + "' exited during start: " + p.lastLogLine(), e))
                        .orElse(e);
                abandon(layout, process, qmp);
                throw reported;
            }
        }
    }

    /** Connects QMP; QEMU binds the socket a moment before it listens, so a refusal is retried briefly. */
    private QmpClient connect(Path socket, Optional<QemuProcess> process) {
        long deadline = System.nanoTime() + host.commandTimeout().toNanos();
        while (true) {
            try {
                return QmpClient.connect(socket, host.commandTimeout());
            } catch (VmmUnavailableException e) {
                boolean retry = e.reason() == VmmUnavailableException.Reason.EXITED
                        && process.map(QemuProcess::isAlive).orElse(false) && System.nanoTime() < deadline;
                if (!retry) {
                    throw e;
                }
                LockSupport.parkNanos(1_000_000);
            }
        }
    }

    /** Undoes a failed start: nothing may be left running or on disk. */
    private void abandon(RuntimeLayout layout, Optional<QemuProcess> process, QmpClient qmp) {
        Session s = session;
        session = null;
        if (s != null) {
            s.close();
        }
        if (qmp != null) {
            qmp.close();
        }
        process.ifPresent(p -> p.kill(host.commandTimeout()));
        host.stateStore().remove(vmId);
        QemuProcess.deleteTree(layout.dir());
    }

    @Override
    public void stop() {
        synchronized (lifecycle) {
            if (state == VmState.STOPPED) {
                return;
            }
            Session s = session;
            if (s == null) {
                state = VmState.STOPPED;
                return;
            }
            checkOpen();
            stopping = true;
            Duration timeout = host.commandTimeout();
            boolean answered = true;
            if (s.qmp.isConnected()) {
                try {
                    s.qmp.execute("quit", null, timeout);
                } catch (VmmUnavailableException e) {
                    // QEMU may close the connection before its reply arrives; the exit below is what counts
                    LOG.debug("quit for VM '{}': {}", vmId, e.getMessage());
                    answered = e.reason() != VmmUnavailableException.Reason.TIMED_OUT;
                } catch (VmmException e) {
                    LOG.warn("quit for VM '{}' refused: {}", vmId, e.getMessage());
                }
            }
            // a QEMU that did not even answer quit (hung, stopped) gets no second timeout before SIGKILL
            Duration grace = answered ? timeout : Duration.ZERO;
            s.process.ifPresent(p -> {
                if (!p.waitForExit(grace) && !p.kill(timeout)) {
                    throw new HvspiException("QEMU of VM '" + vmId + "' (pid " + p.pid() + ") survived SIGKILL");
                }
            });
            s.close();
            session = null;
            host.stateStore().remove(vmId);
            QemuProcess.deleteTree(s.layout.dir());
            state = VmState.STOPPED;
        }
    }

    @Override
    public void pause() {
        Session s = requireSession();
        s.qmp.execute("stop");
        state = VmState.PAUSED;
    }

    @Override
    public void resume() {
        Session s = requireSession();
        s.qmp.execute("cont");
        state = VmState.RUNNING;
    }

    @Override
    public VmState state() {
        return state;
    }

    @Override
    public Set<Capability> capabilities() {
        Session s = session;
        return s != null ? s.capabilities : Set.copyOf(configured);
    }

    @Override
    public HostThreads hostThreads() {
        Session s = requireSession();
        Map<Long, HostThread> known = new HashMap<>();
        List<HostThread> ordered = new ArrayList<>();
        long pid = s.process.map(QemuProcess::pid).orElse(0L);
        if (pid > 0) {
            ordered.add(new HostThread(pid, comm(pid, pid), Role.MAIN, Optional.empty()));
            known.put(pid, ordered.get(0));
        }
        for (JsonNode cpu : s.qmp.execute("query-cpus-fast")) {
            long tid = cpu.path("thread-id").asLong();
            HostThread t = new HostThread(tid, comm(pid, tid), Role.VCPU,
                    Optional.of("vcpu" + cpu.path("cpu-index").asInt()));
            known.put(tid, t);
            ordered.add(t);
        }
        Map<String, QemuIOThreads.Live> live = QemuIOThreads.query(s.qmp);
        for (QemuState.IOThreadState m : s.pool.members()) {
            QemuIOThreads.Live l = live.get(m.id());
            if (l != null) {
                HostThread t = new HostThread(l.threadId(), comm(pid, l.threadId()), Role.IOTHREAD,
                        Optional.of(m.id()));
                known.put(l.threadId(), t);
                ordered.add(t);
            }
        }
        if (pid > 0) {
            try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
                tasks.map(p -> Long.parseLong(p.getFileName().toString())).sorted()
                        .filter(tid -> !known.containsKey(tid))
                        .forEach(tid -> ordered.add(new HostThread(tid, comm(pid, tid), Role.OTHER, Optional.empty())));
            } catch (IOException e) {
                throw new VmmUnavailableException(VmmUnavailableException.Reason.EXITED,
                        "cannot list the threads of QEMU pid " + pid + ": " + e.getMessage(), e);
            }
        }
        return new HostThreads(pid, ordered);
    }

    private static String comm(long pid, long tid) {
        if (pid <= 0) {
            return "";
        }
        try {
            return Files.readString(Path.of("/proc", Long.toString(pid), "task", Long.toString(tid), "comm"),
                    StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            return "";
        }
    }

    @Override
    public Subscription subscribe(Consumer<VmEvent> listener) {
        Session s = requireSession();
        QmpClient.Subscription sub = s.qmp.subscribe(new QmpListener() {
            @Override
            public void onEvent(QmpEvent event) {
                listener.accept(new VmEvent(event.name(), event.timestamp(), toMap(event.data())));
            }

            @Override
            public void onDisconnect(VmmUnavailableException cause) {
                listener.accept(new VmEvent(VmEvent.VMM_EXITED, Instant.now(), Map.of("reason", cause.getMessage())));
            }
        });
        return sub::close;
    }

    private static Map<String, Object> toMap(JsonNode data) {
        Map<String, Object> m = QmpClient.JSON.convertValue(data, new TypeReference<Map<String, Object>>() {});
        // VmEvent copies the map, and Map.copyOf refuses nulls: JSON null becomes absent
        m.values().removeIf(Objects::isNull);
        return m;
    }

    @Override
    public Optional<IOThreadProvider> ioThreads() {
        return capabilities().contains(Capability.INDEPENDENT_IOTHREADS) ? Optional.of(ioThreadsView)
                : Optional.empty();
    }

    @Override
    public Optional<DeviceHotplug> hotplug() {
        return capabilities().contains(Capability.BLOCK_DEVICE_HOTPLUG) ? Optional.of(hotplugView) : Optional.empty();
    }

    /**
     * Sends a QMP command as is and returns QEMU's {@code return} value: for
     * diagnostics and tests (like {@code virsh qemu-monitor-command}). It bypasses
     * hvspi's accounting; a command that changes devices or IOThreads makes the
     * recorded state wrong.
     */
    public JsonNode monitorCommand(String command, ObjectNode arguments) {
        return requireSession().qmp.execute(command, arguments);
    }

    /**
     * hvspi's bookkeeping as it stands, read without asking QEMU (so also after QEMU
     * died): for tests that hold it against QEMU and the state file.
     */
    Accounting accounting() {
        Session s = requireSession();
        synchronized (model) {
            return new Accounting(s.table.list(), s.pool.members(), s.pool.assignments(), s.pool.reservations(),
                    s.table.inFlight());
        }
    }

    /**
     * @param devices the confirmed devices
     * @param ioThreads the VM's IOThreads
     * @param assignments which IOThreads each confirmed device uses
     * @param reservations IOThread reservations of operations in flight
     * @param inFlight places (root ports, LUNs, ids) reserved by attaches in flight
     */
    record Accounting(List<DeviceState> devices, List<QemuState.IOThreadState> ioThreads,
                      Map<String, List<String>> assignments, Map<String, Integer> reservations,
                      List<DeviceTable.Slot> inFlight) {}

    /** The QEMU binary's probe result, once started or reattached. */
    public Optional<ProbeResult> probe() {
        return Optional.ofNullable(session).map(s -> s.probe);
    }

    @Override
    public void close() {
        synchronized (lifecycle) {
            closed = true;
            Session s = session;
            if (s != null) {
                s.close();
            }
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new RequestRejectedException(Reason.INVALID_STATE,
                    "this handle of VM '" + vmId + "' is closed; reattach to use the VM");
        }
    }

    private Session requireSession() {
        checkOpen();
        Session s = session;
        if (s == null) {
            throw new RequestRejectedException(Reason.INVALID_STATE, "VM '" + vmId + "' is " + state.name()
                    .toLowerCase() + ", not started");
        }
        return s;
    }

    /** A started or reattached VM: its process, QMP connection, probe result and accounting. */
    private final class Session {
        final RuntimeLayout layout;
        final Optional<QemuProcess> process;
        final QmpClient qmp;
        final ProbeResult probe;
        final Set<Capability> capabilities;
        final String qmpSocket;
        final boolean endpoint;
        final Instant createdAt;
        final IOThreadPool pool;
        final DeviceTable table;
        final QemuDeviceHotplug hotplug;
        final QemuIOThreads ioThreads;
        final QmpClient.Subscription stateEvents;

        Session(RuntimeLayout layout, Optional<QemuProcess> process, QmpClient qmp, ProbeResult probe,
                QemuState saved, Instant createdAt) {
            this.layout = layout;
            this.process = process;
            this.qmp = qmp;
            this.probe = probe;
            this.capabilities = Set.copyOf(probe.narrow(configured));
            this.qmpSocket = saved.qmpSocket();
            this.endpoint = saved.endpoint();
            this.createdAt = createdAt;
            this.pool = new IOThreadPool(model, saved.ioThreads(), settings.policy(), saved.policyTurn());
            this.table = new DeviceTable(model, saved.rootPorts(), saved.scsiController(), saved.nextNode(),
                    saved.devices());
            saved.devices().forEach(d -> pool.restore(d.id(), d.ioThreads()));
            Optional<String> scsiIoThread = saved.ioThreads().stream().filter(t -> t.kind() == Kind.CONTROLLER)
                    .map(QemuState.IOThreadState::id).findFirst();
            this.hotplug = new QemuDeviceHotplug(QemuHypervisorFactory.TYPE, qmp, model, pool, table, settings,
                    scsiIoThread, capabilities, probe.version(), this::persist);
            this.ioThreads = new QemuIOThreads(QemuHypervisorFactory.TYPE, qmp, model, pool, capabilities,
                    this::persist);
            this.stateEvents = qmp.subscribe(new QmpListener() {
                @Override
                public void onEvent(QmpEvent event) {
                    switch (event.name()) {
                        case "STOP" -> state = VmState.PAUSED;
                        case "RESUME" -> state = VmState.RUNNING;
                        default -> { }
                    }
                }

                @Override
                public void onDisconnect(VmmUnavailableException cause) {
                    if (!stopping) {
                        LOG.warn("VM '{}': {}", vmId, cause.getMessage());
                        state = VmState.FAILED;
                    }
                }
            });
        }

        /** Saves the plugin state; the caller holds {@code model}. */
        void persist() {
            QemuState s = new QemuState(QemuState.FORMAT, settings, qmpSocket, endpoint, pool.members(),
                    table.rootPorts(), table.scsiController(), pool.placedByPolicy(), table.nextNode(), table.list());
            host.stateStore().save(new VmRecord(vmId, QemuHypervisorFactory.TYPE, process.map(QemuProcess::pid)
                    .orElse(0L), layout.dir(), createdAt, s.toJson()));
        }

        VmState queryState() {
            JsonNode status = qmp.execute("query-status");
            return status.path("running").asBoolean() ? VmState.RUNNING : VmState.PAUSED;
        }

        /**
         * After reattach: drops recorded devices QEMU no longer has (an unplug that
         * completed while nobody listened), releasing their block nodes.
         */
        void reconcile() {
            Set<String> present = new HashSet<>();
            for (JsonNode child : qmp.execute("qom-list", QmpClient.args().put("path", "/machine/peripheral"))) {
                present.add(child.path("name").asText());
            }
            boolean changed = false;
            for (DeviceState d : table.list()) {
                if (present.contains(d.id())) {
                    continue;
                }
                if (!d.unplugging()) {
                    LOG.warn("VM '{}': device '{}' is recorded but QEMU no longer has it; forgetting it", vmId, d.id());
                }
                try {
                    qmp.execute("blockdev-del", QmpClient.args().put("node-name", d.nodeName()));
                } catch (VmmException e) {
                    LOG.debug("block node '{}' of gone device '{}': {}", d.nodeName(), d.id(), e.getMessage());
                }
                synchronized (model) {
                    table.remove(d.id());
                    pool.unassign(d.id());
                }
                changed = true;
            }
            if (changed) {
                synchronized (model) {
                    persist();
                }
            }
        }

        void close() {
            stateEvents.close();
            hotplug.close();
            qmp.close();
        }
    }

    /** The SPI's IOThread view; valid while a session is. */
    private final class IOThreadsView implements IOThreadProvider {
        @Override
        public List<IOThreadInfo> list() {
            return requireSession().ioThreads.list();
        }

        @Override
        public IOThreadPolicy policy() {
            Session s = session;
            return s != null ? s.ioThreads.policy() : settings.policy();
        }

        @Override
        public String choose() {
            return requireSession().ioThreads.choose();
        }

        @Override
        public IOThreadInfo add(String id) {
            return requireSession().ioThreads.add(id);
        }

        @Override
        public void remove(String id) {
            requireSession().ioThreads.remove(id);
        }

        @Override
        public void setPolling(String id, PollingParams polling) {
            requireSession().ioThreads.setPolling(id, polling);
        }
    }

    /** The SPI's hotplug view; valid while a session is. */
    private final class HotplugView implements DeviceHotplug {
        @Override
        public BlockDevice attach(BlockDeviceSpec spec) {
            return requireSession().hotplug.attach(spec);
        }

        @Override
        public void detach(String deviceId, Duration timeout) {
            requireSession().hotplug.detach(deviceId, timeout);
        }

        @Override
        public List<BlockDevice> list() {
            return requireSession().hotplug.list();
        }

        @Override
        public BlockDevice move(String deviceId, IOThreadChoice target) {
            return requireSession().hotplug.move(deviceId, target);
        }
    }
}
