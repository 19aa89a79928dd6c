package io.hvspi.plugin.qemu;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.plugin.qemu.cmdline.QemuCommandLine;
import io.hvspi.plugin.qemu.events.EventJournal;
import io.hvspi.kit.lifecycle.VmmSockets;
import io.hvspi.kit.threads.ProcTasks;
import io.hvspi.plugin.qemu.hotplug.DeviceTable;
import io.hvspi.plugin.qemu.hotplug.HostTaps;
import io.hvspi.plugin.qemu.hotplug.QemuNetworkHotplug;
import io.hvspi.plugin.qemu.hotplug.VhostNet;
import io.hvspi.plugin.qemu.hotplug.QemuDeviceHotplug;
import io.hvspi.plugin.qemu.iothread.IOThreadPool;
import io.hvspi.plugin.qemu.iothread.QemuIOThreads;
import io.hvspi.plugin.qemu.probe.ProbeResult;
import io.hvspi.plugin.qemu.probe.QemuProbe;
import io.hvspi.plugin.qemu.process.QemuProcess;
import io.hvspi.plugin.qemu.process.RuntimeLayout;
import io.hvspi.plugin.qemu.process.SocketGuard;
import io.hvspi.plugin.qemu.reconcile.NicReconciler;
import io.hvspi.plugin.qemu.reconcile.Reconciler;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.qmp.QmpEvent;
import io.hvspi.plugin.qemu.qmp.QmpListener;
import io.hvspi.plugin.qemu.qmp.VmEventAdapter;
import io.hvspi.plugin.qemu.state.DeviceState;
import io.hvspi.plugin.qemu.state.Intent;
import io.hvspi.plugin.qemu.state.IntentLog;
import io.hvspi.plugin.qemu.state.NicState;
import io.hvspi.plugin.qemu.state.PendingIntents;
import io.hvspi.plugin.qemu.state.QemuSettings;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.kit.threads.CgroupPlacement;
import io.hvspi.plugin.qemu.iothread.IOThreadPins;
import io.hvspi.spi.Capability;
import io.hvspi.spi.CpuSet;
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
import io.hvspi.spi.NetBackend;
import io.hvspi.spi.NetDevice;
import io.hvspi.spi.NetDeviceSpec;
import io.hvspi.spi.NetworkHotplug;
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
 * root ports, devices) is saved through the host's state store right after QEMU is
 * spawned and after every change QEMU confirmed but an attach, and on close; each
 * operation logs its intent before its first QMP command and an attach logs its outcome
 * ({@link IntentLog}), so that {@code reattach} can replay what finished and settle what
 * a process that died left half done (see {@link Reconciler}).
 */
public final class QemuHypervisor implements Hypervisor {
    private static final Logger LOG = LoggerFactory.getLogger(QemuHypervisor.class);
    /**
     * Runs in a reattach between reconciliation and the session's start, with the QMP connection (a
     * test's hook, to make QEMU do something at that exact point; nothing otherwise).
     */
    static volatile Consumer<QmpClient> afterReconcile = qmp -> { };
    private static final ProcTasks PROC = ProcTasks.system();
    /**
     * Host option: {@code true} leaves a VM with a guest paused after {@link #start()},
     * so that a client can connect to the console socket before the guest's first
     * output; {@link #resume()} runs it.
     */
    public static final String OPTION_START_PAUSED = "start-paused";
    private static final Set<Capability> IOTHREAD_FAMILY = EnumSet.of(Capability.INDEPENDENT_IOTHREADS,
            Capability.IOTHREAD_RUNTIME_ADD, Capability.IOTHREAD_POLLING, Capability.IOTHREAD_VQ_MAPPING,
            Capability.IOTHREAD_MOVE, Capability.IOTHREAD_PINNING);

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
    private final NetworkHotplug networkView = new NetworkView();
    /**
     * The taps hvspi made for this VM as the record and its log name them at reattach: what a stop without a
     * session (QMP unreachable, a damaged log) removes; a session knows its own ({@link Session#createdTaps}).
     */
    private volatile List<String> createdTaps = List.of();
    private volatile VmState state;
    private volatile Session session;
    /** Set instead of {@link #session} by a reattach that verified QEMU but could not reach QMP or read its log. */
    private volatile Unreachable unreachable;
    /** What the reattach's reconciliation changed, one line each. */
    private volatile List<String> reconciliation = List.of();
    private volatile boolean closed;
    private volatile boolean stopping;
    /**
     * Set by {@link #stop} with the record and runtime directory removed, under {@link #model}: an
     * operation in flight that fails once QEMU is gone saves no record after that (a save would
     * make the runtime directory again, with the record of a VM that is gone).
     */
    private boolean removed;

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

    /**
     * Connects to a running VM from its record, after checking the record against
     * the machine: the runtime directory must be {@code <root>/<vmId>}, the pid must
     * be QEMU's (start time, executable, command line), and the QMP socket a socket
     * in that directory, not a link. Then the record is reconciled with what QEMU has
     * (see {@link Reconciler}), intents left by a process that died included.
     *
     * <p>When the process checks out but QMP cannot be reached (the socket is gone or
     * refused, another client holds it, QEMU is stopped), the handle is returned
     * without a connection: {@link #stop()} works (by signals to the verified process),
     * everything else fails with the reason QMP could not be reached.
     */
    static QemuHypervisor reattach(VmRecord record, HostContext host) {
        QemuState recorded = QemuState.fromJson(record.pluginState());
        checkRuntimeDir(record, host);
        if (recorded.endpoint()) {
            checkEndpoint(record, Path.of(recorded.qmpSocket()), host);
        }
        QemuHypervisor hv = new QemuHypervisor(record.vmId(), host, Optional.empty(), recorded.settings(),
                VmState.CREATED);
        RuntimeLayout layout = new RuntimeLayout(record.runtimeDir());
        Optional<QemuProcess> process = Optional.empty();
        if (!recorded.endpoint()) {
            process = Optional.of(QemuProcess.adopt(record.pid(), layout, Optional.ofNullable(recorded.qemu()),
                    Path.of(recorded.settings().binary())).orElseThrow(() ->
                    new VmmUnavailableException(VmmUnavailableException.Reason.EXITED,
                            "QEMU of VM '" + record.vmId() + "' (pid " + record.pid() + ") is not running"
                                    + " (no live QEMU with that pid, start time and executable serves "
                                    + layout.qmpSocket() + ")")));
        }
        LogRead log = LogRead.of(layout, recorded);
        // what the record and its log say together: attaches only the log holds replayed, operations in flight
        // as intents to settle (the record alone when the log is damaged)
        QemuState known = log.error() == null ? log.pending().applyTo(recorded) : recorded;
        hv.createdTaps = createdTaps(known.nics());
        if (log.error() != null && process.isPresent()) {
            // what QEMU has cannot be settled against a damaged log; the verified process can still be
            // stopped, with the taps the record names, rather than left to a signal that removes nothing
            LOG.warn("VM '{}': {}; only stop works", record.vmId(), log.error().getMessage());
            hv.unreachable = new Unreachable(process.get(), "has a damaged intent log", log.error());
            hv.state = VmState.FAILED;
            return hv;
        }
        QmpClient qmp;
        try {
            Path socket = Path.of(recorded.qmpSocket());
            qmp = recorded.endpoint() ? QmpClient.connect(socket, host.commandTimeout())
                    : SocketGuard.connect(socket, layout.dir(), "qmpSocket",
                    () -> QmpClient.connect(socket, host.commandTimeout()));
        } catch (HvspiException e) {
            if (process.isEmpty()) {
                throw e;
            }
            LOG.warn("VM '{}': QEMU (pid {}) runs, but QMP cannot be reached: {}", record.vmId(),
                    record.pid(), e.getMessage());
            hv.unreachable = new Unreachable(process.get(), "cannot be reached over QMP", e);
            hv.state = VmState.FAILED;
            return hv;
        }
        process.ifPresent(p -> makeSocketsPrivate(layout));
        try {
            if (log.error() != null) {
                throw log.error();
            }
            ProbeResult probe = QemuProbe.probe(qmp, executable(recorded));
            Reconciler.Result nicsSettled = new NicReconciler(qmp, known.settings().guestless(),
                    host.commandTimeout()).reconcile(known);
            Reconciler.Result settled = new Reconciler(qmp, known.settings().guestless(), probe.hasVqMapping(),
                    host.commandTimeout()).reconcile(nicsSettled.state());
            List<String> notes = new ArrayList<>(nicsSettled.notes());
            notes.addAll(settled.notes());
            boolean changed = nicsSettled.changed() || settled.changed();
            afterReconcile.accept(qmp);
            hv.session = hv.new Session(layout, process, qmp, probe, settled.state(), record.createdAt(),
                    settled.unfinished());
            Map<String, QemuIOThreads.Live> ioThreadsLive = QemuIOThreads.query(qmp);
            hv.session.ioThreads.remember(ioThreadsLive);
            Map<String, Long> tids = new HashMap<>();
            ioThreadsLive.forEach((id, live) -> tids.put(id, live.threadId()));
            Set<String> ioThreadIds = new HashSet<>();
            settled.state().ioThreads().forEach(t -> ioThreadIds.add(t.id()));
            List<String> pinNotes = new ArrayList<>(hv.session.pins.settle(known.intents(), tids, ioThreadIds));
            pinNotes.addAll(hv.session.pins.placeUnplaced(settled.state().ioThreads(), tids));
            notes.addAll(pinNotes);
            notes.forEach(n -> LOG.warn("VM '{}': {}", record.vmId(), n));
            hv.reconciliation = List.copyOf(notes);
            if (changed || !pinNotes.isEmpty() || log.pending().dirty()) {
                synchronized (hv.model) {
                    hv.session.persist();
                    hv.session.intents.saved(true); // the record covers the whole log now: it starts afresh
                }
            }
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

    /** The VM's intent log as a reattach found it; a damaged log is an error for a reattach that reaches QMP. */
    private record LogRead(IntentLog.Pending pending, HvspiException error) {
        static LogRead of(RuntimeLayout layout, QemuState recorded) {
            try {
                return new LogRead(IntentLog.read(layout.intentLog(), recorded.intentLog()), null);
            } catch (HvspiException e) {
                return new LogRead(null, e);
            }
        }
    }

    /** The binary QEMU runs, as recorded; empty for a QEMU hvspi did not spawn. */
    private static Optional<Path> executable(QemuState state) {
        return Optional.ofNullable(state.qemu()).filter(q -> !state.endpoint()).map(q -> Path.of(q.executable()));
    }

    /** A record is data: its runtime directory must be where this host keeps the VM's, nowhere else. */
    static void checkRuntimeDir(VmRecord record, HostContext host) {
        Path expected = host.runtimeRoot().resolve(record.vmId()).toAbsolutePath().normalize();
        if (!record.runtimeDir().toAbsolutePath().normalize().equals(expected)) {
            throw new HvspiException("refusing the VM record's runtimeDir " + record.runtimeDir() + ": VM '"
                    + record.vmId() + "' lives in " + expected);
        }
    }

    /**
     * An endpoint record's QMP socket is one hvspi did not make, so it is not checked like its own;
     * but it must not be another VM's under this runtime root: a stop would quit that VM's QEMU.
     */
    static void checkEndpoint(VmRecord record, Path socket, HostContext host) {
        Path root = host.runtimeRoot().toAbsolutePath().normalize();
        Path own = root.resolve(record.vmId());
        Path at = socket.toAbsolutePath().normalize();
        if (at.startsWith(root) && !at.startsWith(own)) {
            throw new HvspiException("refusing the VM record's qmpSocket " + socket + ": it is under another VM's"
                    + " runtime directory, not " + own);
        }
    }

    /** QEMU binds its sockets with the umask's mode; a start that was cut short may have left them so. */
    private static void makeSocketsPrivate(RuntimeLayout layout) {
        for (Path socket : List.of(layout.qmpSocket(), layout.consoleSocket(), layout.eventsSocket())) {
            try {
                SocketGuard.check(socket, layout.dir(), socket.getFileName().toString());
                QemuProcess.makePrivate(socket);
            } catch (RuntimeException e) {
                LOG.debug("not changing the mode of {}: {}", socket, e.getMessage());
            }
        }
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

    /** How long a start that lost QEMU's monitor waits for QEMU's exit before it reports the lost connection. */
    private static final Duration EXIT_DURING_START = Duration.ofSeconds(2);

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
                Path socket = endpoint.map(Path::of).orElse(layout.qmpSocket());
                List<QemuState.IOThreadState> ioThreads = new ArrayList<>();
                plan.pool().forEach(id -> ioThreads.add(new QemuState.IOThreadState(id, Kind.POOL)));
                plan.scsiIoThread().ifPresent(id -> ioThreads.add(new QemuState.IOThreadState(id, Kind.CONTROLLER)));
                QemuState initial = new QemuState(QemuState.FORMAT, settings, socket.toString(), endpoint.isPresent(),
                        ioThreads, plan.rootPorts(), plan.scsiController(), 0, 0, List.of())
                        .withPlacement(placement(s.placement()));
                Instant createdAt = Instant.now();
                QemuState saved = null; // the plugin state last saved in this start, if any
                if (endpoint.isEmpty()) {
                    LOG.debug("starting VM '{}': {}", vmId, plan.argv());
                    process = Optional.of(QemuProcess.spawn(plan.argv(), layout));
                    initial = initial.withQemu(process.get().identity(s.binary()));
                    // recorded at once: a starter killed from here on leaves a VM that can be listed and stopped
                    host.stateStore().save(new VmRecord(vmId, QemuHypervisorFactory.TYPE, process.get().pid(), dir,
                            createdAt, initial.toJson()));
                    process.get().awaitSocket(host.commandTimeout());
                    // QEMU runs now: a wrapper as the binary (a script that execs QEMU, e.g. through
                    // chroot) has been replaced by QEMU itself, whose executable is what a reattach sees
                    QemuState running = initial.withQemu(process.get().runningIdentity(s.binary()));
                    if (!running.equals(initial)) {
                        // saved again with QEMU's own identity, while QEMU sets its machine up (it greets 1 to
                        // 2 ms after its socket appears, answers ~25 ms later); QEMU run directly needs no save
                        host.stateStore().save(new VmRecord(vmId, QemuHypervisorFactory.TYPE, process.get().pid(),
                                dir, createdAt, running.toJson()));
                    }
                    initial = running;
                    saved = initial; // the end of start saves only a change from it
                }
                // QEMU greets at once but answers qmp_capabilities only once its machine is set up (about
                // 25 ms under TCG): the session is built meanwhile, and what start asks queues behind it
                qmp = open(socket, process);
                ProbeResult probe = QemuProbe.probe(qmp, executable(initial));
                session = new Session(layout, process, qmp, probe, initial, createdAt, List.of());
                session.placeThreads();
                // cont and query-status go out first: QEMU answers them while the record is saved (if start changed it)
                QmpClient.Call cont = !settings.guestless() && !host.option(OPTION_START_PAUSED)
                        .map(Boolean::parseBoolean).orElse(false) ? qmp.submit("cont", null) : null;
                QmpClient.Call status = qmp.submit("query-status", null);
                synchronized (model) {
                    session.persistUnless(saved);
                }
                qmp.await(qmp.negotiation());
                if (cont != null) {
                    qmp.await(cont);
                }
                state = Session.state(qmp.await(status));
            } catch (RuntimeException e) {
                state = VmState.FAILED;
                if (e instanceof VmmUnavailableException u && u.reason() == VmmUnavailableException.Reason.EXITED) {
                    // QEMU ends its monitor during start by exiting, and resets it at once when commands wait
                    // unread: give it a moment to be gone, so that the error quotes its last words
                    process.ifPresent(p -> p.waitForExit(EXIT_DURING_START));
                }
                RuntimeException reported = process.filter(p -> !p.isAlive())
                        .<RuntimeException>map(p -> new VmmUnavailableException(VmmUnavailableException.Reason.EXITED,
                                "QEMU of VM '" + vmId + "' exited during start: " + p.lastLogLine(), e, p.logTail()))
                        .orElse(e);
                abandon(process, qmp);
                throw reported;
            }
        }
    }

    /** The placement as the state records it; {@code null} when none was asked for. */
    private static QemuState.Placement placement(VmSpec.ThreadPlacement p) {
        if (p.isNone()) {
            return null;
        }
        return new QemuState.Placement(p.ioThreadCpus().map(CpuSet::toString).orElse(null),
                p.ioThreadCgroup().orElse(null), p.vcpuCgroup().orElse(null));
    }

    /**
     * Opens QMP with its negotiation in flight ({@link QmpClient#open}); QEMU binds the socket a moment
     * before it listens, so a refusal is retried briefly.
     */
    private QmpClient open(Path socket, Optional<QemuProcess> process) {
        long deadline = System.nanoTime() + host.commandTimeout().toNanos();
        while (true) {
            try {
                return QmpClient.open(socket, host.commandTimeout());
            } catch (VmmUnavailableException e) {
                boolean retry = e.reason() == VmmUnavailableException.Reason.EXITED
                        && process.map(QemuProcess::isAlive).orElse(false) && System.nanoTime() < deadline;
                if (!retry) {
                    throw e;
                }
                LockSupport.parkNanos(100_000); // QEMU listens microseconds after it binds
            }
        }
    }

    /** Undoes a failed start: nothing may be left running or on disk. */
    private void abandon(Optional<QemuProcess> process, QmpClient qmp) {
        Session s = session;
        session = null;
        if (s != null) {
            s.close();
        }
        if (qmp != null) {
            qmp.close();
        }
        process.ifPresent(p -> p.kill(host.commandTimeout()));
        synchronized (model) {
            removed = true; // an operation on the published session that fails now saves nothing: see removed
            host.stateStore().remove(vmId);
            host.removeRuntimeDir(vmId);
        }
    }

    /**
     * Ends QEMU and then forgets the VM: {@code quit} over QMP when it can be reached,
     * then SIGTERM, then SIGKILL, each only to the process verified at start or
     * reattach (pid and start time). The record and the runtime directory are removed
     * only once QEMU is gone; when that cannot be proven this throws
     * {@link VmmUnavailableException} and keeps both.
     */
    @Override
    public void stop() {
        synchronized (lifecycle) {
            if (state == VmState.STOPPED) {
                return;
            }
            Session s = session;
            Unreachable u = unreachable;
            if (s == null && u == null) {
                state = VmState.STOPPED;
                return;
            }
            checkOpen();
            stopping = true;
            Duration timeout = host.commandTimeout();
            boolean answered = false;
            boolean quitConfirmed = false; // QEMU answered quit, or closed the connection on it
            String quitFailure = "QMP not connected";
            if (s != null && s.qmp.isConnected()) {
                answered = true;
                try {
                    s.qmp.execute("quit", null, timeout);
                    quitConfirmed = true;
                } catch (VmmUnavailableException e) {
                    // QEMU may close the connection before its reply arrives; the exit below is what counts
                    LOG.debug("quit for VM '{}': {}", vmId, e.getMessage());
                    answered = e.reason() != VmmUnavailableException.Reason.TIMED_OUT;
                    quitConfirmed = e.reason() == VmmUnavailableException.Reason.EXITED;
                    quitFailure = e.getMessage();
                } catch (VmmException e) {
                    LOG.warn("quit for VM '{}' refused: {}", vmId, e.getMessage());
                    quitFailure = "refused: " + e.getMessage();
                }
            }
            Optional<QemuProcess> process = s != null ? s.process : Optional.of(u.process());
            if (process.isEmpty()) {
                proveGoneAtEndpoint(s, quitConfirmed, quitFailure, timeout); // throws while QEMU may still run
            }
            // a QEMU that did not even answer quit (hung, stopped) gets no second timeout
            Duration grace = answered ? timeout : Duration.ZERO;
            process.ifPresent(p -> {
                if (!endProcess(p, grace, timeout)) {
                    stopping = false;
                    throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT, "QEMU of VM '"
                            + vmId + "' (pid " + p.pid() + ") is still running after quit, SIGTERM and SIGKILL;"
                            + " its record and runtime directory are kept");
                }
            });
            if (s != null) {
                s.closeEnded(); // QEMU is gone: subscribers hear VMM_EXITED, last, whoever closed first
            }
            session = null;
            unreachable = null;
            synchronized (model) {
                removed = true;
                // QEMU is gone, so no netdev holds them: the taps hvspi made for this VM go with it, a user's
                // stay; under model, so that an attach in flight that makes its tap later removes it itself
                (s != null ? s.createdTaps() : createdTaps).forEach(HostTaps::removeQuietly);
                host.stateStore().remove(vmId);
                host.removeRuntimeDir(vmId);
            }
            state = VmState.STOPPED;
        }
    }

    /**
     * With an endpoint there is no process to signal or watch: QEMU is gone only when it
     * confirmed {@code quit} (a reply, or the connection ending on it) or its socket now
     * refuses connections. A connection that had dropped before gets a new one for the
     * {@code quit}. Otherwise throws {@link VmmUnavailableException} ({@code TIMED_OUT}), with
     * the record and runtime directory kept, so that a later stop retries.
     */
    private void proveGoneAtEndpoint(Session s, boolean quitConfirmed, String quitFailure, Duration timeout) {
        if (quitConfirmed || s == null) {
            return;
        }
        Path socket = Path.of(s.qmpSocket);
        if (VmmSockets.refusesConnections(socket)) {
            return;
        }
        if (!s.qmp.isConnected()) {
            try (QmpClient again = QmpClient.connect(socket, timeout)) {
                again.execute("quit", null, timeout);
                return;
            } catch (VmmUnavailableException e) {
                if (e.reason() == VmmUnavailableException.Reason.EXITED && VmmSockets.refusesConnections(socket)) {
                    return;
                }
                quitFailure = quitFailure + "; over a new connection: " + e.getMessage();
            } catch (HvspiException e) {
                quitFailure = quitFailure + "; over a new connection: " + e.getMessage();
            }
            if (VmmSockets.refusesConnections(socket)) {
                return;
            }
        }
        stopping = false;
        throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT, "cannot stop VM '" + vmId
                + "' at endpoint " + socket + ": QEMU did not confirm quit (" + quitFailure.replace('\n', ' ')
                + ") and its QMP socket still accepts connections; its record and runtime directory are kept,"
                + " stop again to retry");
    }

    /** Waits out {@code grace}, then SIGTERM (not to a stopped QEMU: it would wait for SIGCONT), then SIGKILL. */
    private boolean endProcess(QemuProcess p, Duration grace, Duration timeout) {
        if (p.waitForExit(grace)) {
            return true;
        }
        if (!p.isStopped() && p.terminate(timeout)) {
            return true;
        }
        LOG.warn("VM '{}': QEMU (pid {}) did not end on quit or SIGTERM; sending SIGKILL", vmId, p.pid());
        return p.kill(timeout);
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
        Optional<CgroupPlacement> cgroups = CgroupPlacement.detect();
        if (pid > 0) {
            ordered.add(thread(s, cgroups, pid, comm(pid, pid), Role.MAIN, Optional.empty()));
            known.put(pid, ordered.get(0));
        }
        for (JsonNode cpu : s.qmp.execute("query-cpus-fast")) {
            long tid = cpu.path("thread-id").asLong();
            HostThread t = thread(s, cgroups, tid, comm(pid, tid), Role.VCPU,
                    Optional.of("vcpu" + cpu.path("cpu-index").asInt()));
            known.put(tid, t);
            ordered.add(t);
        }
        Map<String, QemuIOThreads.Live> live = QemuIOThreads.query(s.qmp);
        for (QemuState.IOThreadState m : s.pool.members()) {
            QemuIOThreads.Live l = live.get(m.id());
            if (l != null) {
                HostThread t = thread(s, cgroups, l.threadId(), comm(pid, l.threadId()), Role.IOTHREAD,
                        Optional.of(m.id()));
                known.put(l.threadId(), t);
                ordered.add(t);
            }
        }
        if (pid > 0) {
            for (ProcTasks.Task task : PROC.list(pid)) { // EXITED when QEMU is gone
                if (!known.containsKey(task.tid())) {
                    ordered.add(thread(s, cgroups, task.tid(), task.comm(), Role.OTHER, Optional.empty()));
                }
            }
        }
        return new HostThreads(pid, ordered);
    }

    /** One thread with its affinity and cgroup as the kernel reports them now. */
    private static HostThread thread(Session s, Optional<CgroupPlacement> cgroups, long tid, String name, Role role,
                                     Optional<String> owner) {
        return new HostThread(tid, name, role, owner, s.pins.affinity(tid), s.pins.cgroup(cgroups, tid));
    }

    private static String comm(long pid, long tid) {
        return pid <= 0 ? "" : PROC.comm(pid, tid).orElse("");
    }

    @Override
    public Subscription subscribe(Consumer<VmEvent> listener) {
        Session s = requireSession();
        QmpClient.Subscription sub = s.qmp.subscribe(VmEventAdapter.of(listener));
        return sub::close;
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

    @Override
    public Optional<NetworkHotplug> networkHotplug() {
        return capabilities().contains(Capability.NETWORK_DEVICE_HOTPLUG) ? Optional.of(networkView)
                : Optional.empty();
    }

    private static List<String> createdTaps(List<NicState> nics) {
        return nics.stream().filter(NicState::createdTap).map(NicState::tap).toList();
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
                    s.table.inFlight(), s.intents.list());
        }
    }

    /**
     * @param devices the confirmed devices
     * @param ioThreads the VM's IOThreads
     * @param assignments which IOThreads each confirmed device uses
     * @param reservations IOThread reservations of operations in flight
     * @param inFlight places (root ports, LUNs, ids) reserved by attaches in flight
     * @param intents operations begun and not finished
     */
    record Accounting(List<DeviceState> devices, List<QemuState.IOThreadState> ioThreads,
                      Map<String, List<String>> assignments, Map<String, Integer> reservations,
                      List<DeviceTable.Slot> inFlight, List<Intent> intents) {}

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
                s.saveWhatOnlyTheLogHolds();
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
            Unreachable u = unreachable;
            if (u != null) {
                String message = "VM '" + vmId + "' " + u.what() + " (only stop works): " + u.cause().getMessage();
                throw u.cause() instanceof VmmUnavailableException e
                        ? new VmmUnavailableException(e.reason(), message, e) : new HvspiException(message, u.cause());
            }
            throw new RequestRejectedException(Reason.INVALID_STATE, "VM '" + vmId + "' is " + state.name()
                    .toLowerCase() + ", not started");
        }
        return s;
    }

    /** A reattach that verified QEMU's process but can offer only stop: {@code what} says why, {@code cause} how. */
    private record Unreachable(QemuProcess process, String what, HvspiException cause) {}

    /**
     * What the last reattach found QEMU to have that the record did not say (or the
     * reverse), and the intents it settled: one line each; empty when they agreed.
     */
    public List<String> reconciliation() {
        return reconciliation;
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
        final QemuNetworkHotplug network;
        final QemuIOThreads ioThreads;
        final QmpClient.Subscription stateEvents;
        final PendingIntents intents;
        final QemuState.QemuIdentity identity;
        final IOThreadPins pins;
        final EventJournal journal;

        /** @param unfinished moves a reattach leaves to the session (see {@code Reconciler.Result#unfinished}) */
        Session(RuntimeLayout layout, Optional<QemuProcess> process, QmpClient qmp, ProbeResult probe,
                QemuState saved, Instant createdAt, List<Intent> unfinished) {
            this.layout = layout;
            this.process = process;
            this.qmp = qmp;
            this.probe = probe;
            this.capabilities = Set.copyOf(probe.narrow(configured));
            this.qmpSocket = saved.qmpSocket();
            this.endpoint = saved.endpoint();
            this.createdAt = createdAt;
            this.identity = saved.qemu();
            this.pins = new IOThreadPins(model, process.map(QemuProcess::pid).orElse(0L), saved.pins(),
                    saved.placement());
            this.journal = new EventJournal(layout.eventsJournal());
            this.intents = new PendingIntents(model, new IntentLog(intentLog(layout), saved.intentLog()));
            qmp.onRoundTrip((command, took, ok) -> host.metrics().roundTrip(QemuHypervisorFactory.TYPE, command, took,
                    ok));
            this.pool = new IOThreadPool(model, saved.ioThreads(), settings.policy(), saved.policyTurn());
            this.table = new DeviceTable(model, saved.rootPorts(), saved.scsiController(), saved.nextNode(),
                    saved.devices(), saved.nics());
            saved.devices().forEach(d -> pool.restore(d.id(), d.ioThreads()));
            Optional<String> scsiIoThread = saved.ioThreads().stream().filter(t -> t.kind() == Kind.CONTROLLER)
                    .map(QemuState.IOThreadState::id).findFirst();
            this.hotplug = new QemuDeviceHotplug(QemuHypervisorFactory.TYPE, qmp, model, pool, table, settings,
                    scsiIoThread, capabilities, probe.version(), intents, this::persist, unfinished);
            this.ioThreads = new QemuIOThreads(QemuHypervisorFactory.TYPE, qmp, model, pool, capabilities,
                    intents, this::persist, pins);
            this.network = new QemuNetworkHotplug(QemuHypervisorFactory.TYPE, qmp, model, table, settings.guestless(),
                    capabilities, VhostNet.usable(), intents, this::persist, () -> removed);
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

        /** The VM's intent log, made 0600 when absent (a VM started before there was one, or not spawned here). */
        private static Path intentLog(RuntimeLayout layout) {
            try {
                QemuProcess.createPrivateFileIfAbsent(layout.intentLog());
                return layout.intentLog();
            } catch (IOException e) {
                throw new HvspiException("cannot create intent log " + layout.intentLog() + ": " + e.getMessage(), e);
            }
        }

        /** The taps hvspi made for this VM's NICs; an attach in flight may have made its tap already. */
        List<String> createdTaps() {
            synchronized (model) {
                List<String> taps = new ArrayList<>(QemuHypervisor.createdTaps(table.nics()));
                intents.list().stream().filter(i -> i.aboutNic() && i.nic().createdTap())
                        .forEach(i -> taps.add(i.nic().tap()));
                return List.copyOf(taps);
            }
        }

        /** Saves the plugin state; the caller holds {@code model}. */
        void persist() {
            persistUnless(null);
        }

        /** Saves the VM's state unless it equals {@code unchanged}, the plugin state this process saved last. */
        void persistUnless(QemuState unchanged) {
            if (removed) {
                return; // stopped meanwhile: see removed
            }
            QemuState s = new QemuState(QemuState.FORMAT, settings, qmpSocket, endpoint, pool.members(),
                    table.rootPorts(), table.scsiController(), pool.placedByPolicy(), table.nextNode(), table.list(),
                    intents.list(), identity, table.nics(), pins.snapshot(), pins.placement(), intents.lastLogged());
            if (!s.equals(unchanged)) {
                host.stateStore().save(new VmRecord(vmId, QemuHypervisorFactory.TYPE, process.map(QemuProcess::pid)
                        .orElse(0L), layout.dir(), createdAt, s.toJson()));
            }
            intents.saved(false);
        }

        /**
         * Applies the placement asked for at start: the pool's IOThreads into their cgroup and
         * onto their CPU set, the vCPU threads into theirs. A failure fails the start.
         */
        void placeThreads() {
            if (pins.placement() == null) {
                return;
            }
            Map<String, QemuIOThreads.Live> live = QemuIOThreads.query(qmp);
            for (QemuState.IOThreadState m : pool.members()) {
                QemuIOThreads.Live l = live.get(m.id());
                if (m.kind() == Kind.POOL && l != null) {
                    pins.placePoolThread(m.id(), l.threadId());
                }
            }
            List<Long> vcpus = new ArrayList<>();
            qmp.execute("query-cpus-fast").forEach(cpu -> vcpus.add(cpu.path("thread-id").asLong()));
            pins.placeVcpuThreads(vcpus);
        }

        VmState queryState() {
            return state(qmp.execute("query-status"));
        }

        /** The state a {@code query-status} reply says. */
        static VmState state(JsonNode status) {
            return status.path("running").asBoolean() ? VmState.RUNNING : VmState.PAUSED;
        }

        /**
         * Saves the record when the log holds lines it does not cover (attaches end with a line, not a
         * save), so that once this handle lets go of the VM its record alone is complete. A failure is
         * only logged: the log keeps the attaches, and the next reattach replays them.
         */
        void saveWhatOnlyTheLogHolds() {
            synchronized (model) {
                if (!intents.uncovered()) {
                    return;
                }
                try {
                    persist();
                    intents.saved(true); // the record covers the whole log: the next reattach reads nothing
                } catch (RuntimeException e) {
                    LOG.warn("VM '{}': record not saved on close ({}); its intent log keeps the attaches since"
                            + " the last save, and the next reattach replays them", vmId, e.getMessage());
                }
            }
        }

        void close() {
            close(false);
        }

        /** As {@link #close()}, for a QEMU proven gone: subscribers hear VMM_EXITED (once, last). */
        void closeEnded() {
            close(true);
        }

        private void close(boolean qemuGone) {
            stateEvents.close();
            hotplug.close();
            network.close();
            if (qemuGone) {
                qmp.closeEnded();
            } else {
                qmp.close();
            }
            intents.close();
            journal.close();
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
            Session s = requireSession();
            IOThreadInfo added = s.ioThreads.add(id);
            s.journal.append("IOTHREAD_ADDED", Map.of("iothread", id));
            return added;
        }

        @Override
        public void remove(String id) {
            Session s = requireSession();
            s.ioThreads.remove(id);
            s.journal.append("IOTHREAD_REMOVED", Map.of("iothread", id));
        }

        @Override
        public void setPolling(String id, PollingParams polling) {
            requireSession().ioThreads.setPolling(id, polling);
        }

        @Override
        public IOThreadInfo pin(String id, CpuSet cpus) {
            return requireSession().ioThreads.pin(id, cpus);
        }

        @Override
        public IOThreadInfo unpin(String id) {
            return requireSession().ioThreads.unpin(id);
        }
    }

    /** The SPI's hotplug view; valid while a session is. */
    private final class HotplugView implements DeviceHotplug {
        @Override
        public BlockDevice attach(BlockDeviceSpec spec) {
            Session s = requireSession();
            BlockDevice d = s.hotplug.attach(spec);
            s.journal.append("DEVICE_ATTACHED", deviceData(d));
            return d;
        }

        @Override
        public void detach(String deviceId, Duration timeout) {
            Session s = requireSession();
            s.hotplug.detach(deviceId, timeout);
            s.journal.append("DEVICE_DETACHED", Map.of("device", deviceId));
        }

        @Override
        public List<BlockDevice> list() {
            return requireSession().hotplug.list();
        }

        @Override
        public BlockDevice move(String deviceId, IOThreadChoice target) {
            Session s = requireSession();
            BlockDevice d = s.hotplug.move(deviceId, target);
            s.journal.append("DEVICE_MOVED", deviceData(d));
            return d;
        }
    }

    /** The SPI's network hotplug view; valid while a session is. */
    private final class NetworkView implements NetworkHotplug {
        @Override
        public NetDevice attach(NetDeviceSpec spec) {
            Session s = requireSession();
            NetDevice n = s.network.attach(spec);
            s.journal.append("NIC_ATTACHED", Map.of("device", n.id(), "mac", n.mac(),
                    "tap", ((NetBackend.Tap) n.backend()).name(), "queues", n.queues()));
            return n;
        }

        @Override
        public void detach(String deviceId, Duration timeout) {
            Session s = requireSession();
            s.network.detach(deviceId, timeout);
            s.journal.append("NIC_DETACHED", Map.of("device", deviceId));
        }

        @Override
        public List<NetDevice> list() {
            return requireSession().network.list();
        }
    }

    private static Map<String, Object> deviceData(BlockDevice d) {
        return Map.of("device", d.id(), "driver", d.driver(), "iothreads", d.ioThreads());
    }
}
