package io.hvspi.core.host;

import io.hvspi.core.config.KataConfig;
import io.hvspi.core.config.KataConfigLoader;
import io.hvspi.core.metrics.HostMetrics;
import io.hvspi.core.plugin.PluginCall;
import io.hvspi.core.plugin.PluginRegistry;
import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.core.state.JsonVmStateStore;
import io.hvspi.core.state.RuntimeDirs;
import io.hvspi.core.state.VmEntry;
import io.hvspi.core.state.VmLock;
import io.hvspi.core.state.VmStopper;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * hvspi for a program that embeds it (and for {@code hvctl}, which is one): loads
 * plugins and Kata configurations, starts VMs, reattaches to them by id, lists and
 * stops them. Every VM operation but listing holds the VM's cross-process lock
 * ({@link VmLock}), so several processes and threads can work on one host.
 *
 * <pre>{@code
 * try (HvspiHost host = HvspiHost.builder().pluginsDir(Path.of("plugins")).build();
 *      VmHandle vm = host.start(host.loadConfig(Path.of("configuration.toml")).spec("vm1"))) {
 *     vm.hotplug().attach(BlockDeviceSpec.builder("disk0", BlockBackend.nullBackend()).build());
 * } // the VM is stopped here, also when an exception leaves the block
 * }</pre>
 *
 * Plugins are loaded on first use. Thread-safe. Closing the host closes every handle it gave out that is still open
 * (stopping the VMs it started and did not keep), then unloads the plugins it loaded.
 */
public final class HvspiHost implements AutoCloseable {
    private final Supplier<PluginRegistry> loader;
    private final boolean ownsRegistry;
    private PluginRegistry registry;
    private final DefaultHostContext context;
    private final Duration lockTimeout;
    private final VmStopper stopper;
    private final Set<VmHandle> open = ConcurrentHashMap.newKeySet();
    /** Subscriptions from {@link #follow} still running, closed with the host before its plugins are unloaded. */
    private final Set<Followed> following = ConcurrentHashMap.newKeySet();

    /** A subscription of {@link #follow}: the plugin's, known to the host until it ends. */
    private final class Followed implements Hypervisor.Subscription {
        volatile Hypervisor.Subscription plugins;

        @Override
        public void close() {
            following.remove(this);
            if (plugins != null) {
                // bounded: a plugin's close that never returns must not hold its caller, nor the host's close
                if (PluginCall.run("hvspi-unfollow", context.commandTimeout(), plugins::close)
                        instanceof PluginCall.Threw<Void> threw) {
                    throw threw.thrown() instanceof RuntimeException r ? r
                            : new HvspiException("closing a subscription: " + threw.line(), threw.thrown());
                }
            }
        }
    }
    /**
     * Operations that run plugin code hold the read side; {@link #close} takes the write side
     * once, so it waits for them (a start in flight gets its handle closed, not left out) and
     * every later one is refused (the plugins are unloaded).
     */
    private final ReentrantReadWriteLock inUse = new ReentrantReadWriteLock();
    private volatile boolean closed;
    private final HostMetrics metrics;

    private HvspiHost(Supplier<PluginRegistry> loader, boolean ownsRegistry, DefaultHostContext context,
                      Duration lockTimeout, HostMetrics metrics) {
        this.loader = loader;
        this.ownsRegistry = ownsRegistry;
        this.context = context.withMetrics(metrics);
        this.lockTimeout = lockTimeout;
        this.metrics = metrics;
        metrics.runningVms(this::runningVms);
        // the plugin's stop sends quit, waits for the exit, then kills: up to three command timeouts
        this.stopper = new VmStopper((JsonVmStateStore) context.stateStore(),
                context.commandTimeout().multipliedBy(3), context.commandTimeout());
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Loads a Kata {@code configuration.toml}; a bad file is a {@code ConfigException} naming key and position. */
    public LoadedConfig loadConfig(Path file) {
        return loadConfig(file, Map.of());
    }

    /**
     * Loads a Kata configuration and applies pod annotations
     * ({@code io.katacontainers.config.hypervisor.*}) as Kata's policy allows; a
     * refused annotation is an error naming it.
     *
     * @throws io.hvspi.spi.ConfigException when the file or an annotation is wrong
     * @throws IllegalArgumentException when a key or value of {@code annotations} is null
     */
    public LoadedConfig loadConfig(Path file, Map<String, String> annotations) {
        return withAnnotations(KataConfigLoader.load(file), annotations);
    }

    /** Parses configuration text; {@code name} is what messages call it. */
    public LoadedConfig parseConfig(String toml, Path name, Map<String, String> annotations) {
        return withAnnotations(KataConfigLoader.parse(toml, name), annotations);
    }

    private static LoadedConfig withAnnotations(KataConfig config, Map<String, String> annotations) {
        return new LoadedConfig(annotations.isEmpty() ? config : config.withAnnotations(annotations));
    }

    /**
     * Registers {@code resource} to be closed when the JVM exits (on SIGINT, SIGTERM, SIGHUP or
     * {@code System.exit}) after the VMs that the host stops then: for what a running VM depends
     * on outside itself, such as a simulator of its VMM, which must outlive the VM's stop. Close
     * the returned registration when done with the resource: it closes the resource, once. On
     * exit the close (or one the owner began) is waited for up to the host's command timeout;
     * one that takes longer is left behind with a warning, so that it cannot keep the JVM alive.
     *
     * @throws HvspiException when the JVM is already shutting down (the resource is not closed)
     */
    public ClosedOnExit closeOnExit(AutoCloseable resource) {
        ClosedOnExit registration = new ClosedOnExit(Objects.requireNonNull(resource, "resource"),
                context.commandTimeout());
        StopOnExit.watch(registration);
        return registration;
    }

    /**
     * How long the exit hook waits for a VM's stop: the plugin's stop (up to three command
     * timeouts, as {@link VmStopper} allows it), the signals that end its VMM when that fails
     * (a command timeout each for SIGTERM and SIGKILL), and one more for what follows.
     */
    private Duration exitStopBound() {
        return context.commandTimeout().multipliedBy(6);
    }

    /** Creates and starts a VM; see {@link #start(VmSpec, Map)}. */
    public VmHandle start(VmSpec spec) {
        return start(spec, Map.of());
    }

    /**
     * Creates and starts a VM from {@code spec} with the plugin of its hypervisor
     * type, holding the VM's lock until the handle closes. The handle stops the VM on
     * close unless {@link VmHandle#keepRunning()}; if start fails, whatever the
     * plugin began is stopped before the error is thrown.
     *
     * @param vmOptions host options for this VM only, over the host's (e.g. {@code endpoint})
     */
    public VmHandle start(VmSpec spec, Map<String, String> vmOptions) {
        return measured(spec.hypervisorType(), spec.vmId(), "start",
                () -> whileOpen(() -> startTagged(spec, vmOptions)));
    }

    private VmHandle startTagged(VmSpec spec, Map<String, String> vmOptions) {
        HypervisorFactory factory = factory(spec.hypervisorType());
        DefaultHostContext host = context;
        for (Map.Entry<String, String> option : vmOptions.entrySet()) {
            host = host.withOption(option.getKey(), option.getValue());
        }
        VmLock lock = VmLock.acquire(context.runtimeRoot(), spec.vmId(), lockTimeout);
        VmHandle handle = null;
        try {
            Hypervisor vm = factory.create(spec, host);
            handle = new VmHandle(vm, spec.hypervisorType(), lock, stopper, true, open::remove, metrics);
            open.add(handle);
            // known to the shutdown hook before the plugin spawns anything
            StopOnExit.watch(handle, exitStopBound());
            vm.start();
            return handle;
        } catch (RuntimeException | Error e) {
            try {
                if (handle != null) {
                    handle.close();
                } else {
                    lock.close();
                }
            } catch (RuntimeException | Error cleanup) {
                e.addSuppressed(cleanup); // the start's error stays the one thrown
            }
            throw e;
        }
    }

    /**
     * Connects to a running VM that this or another process started and kept,
     * holding its lock until the handle closes; closing only disconnects.
     *
     * @throws RequestRejectedException (NOT_FOUND) when no VM of that id is recorded
     * @throws VmmUnavailableException when its VMM is gone, or the lock stays taken beyond the timeout
     */
    public VmHandle reattach(String vmId) {
        return measured(null, vmId, "reattach", () -> whileOpen(() -> reattachTagged(vmId)));
    }

    private VmHandle reattachTagged(String vmId) {
        if (neverLocked(vmId)) {
            record(vmId); // an id that has no VM takes no lock: its lock file would stay for good
        }
        VmLock lock = VmLock.acquire(context.runtimeRoot(), vmId, lockTimeout);
        try {
            VmRecord record = record(vmId);
            Hypervisor vm = factory(record.hypervisorType()).reattach(record, context);
            VmHandle handle = new VmHandle(vm, record.hypervisorType(), lock, stopper, false, open::remove, metrics);
            open.add(handle);
            return handle;
        } catch (RuntimeException | Error e) {
            lock.close();
            throw e;
        }
    }

    /**
     * Stops a VM and proves it ({@link VmStopper}): the plugin's stop first (reattach
     * and stop) when the record is usable, then SIGTERM and SIGKILL of whatever is
     * still verifiably the VM's VMM, found through its record or through {@code /proc}
     * by its runtime directory (so a corrupt record does not prevent stopping). The
     * record and directory go only once no VMM is left.
     *
     * @throws RequestRejectedException (NOT_FOUND) when there is no such VM
     * @throws io.hvspi.spi.HvspiException when a VMM survives; its record and directory are kept
     */
    public VmStopper.Outcome stop(String vmId) {
        return measured(null, vmId, "stop", () -> whileOpen(() -> {
            if (neverLocked(vmId)) {
                // an id that has no VM takes no lock: its lock file would stay for good
                stopper.requireSomethingToStop(vmId);
            }
            try (VmLock lock = VmLock.acquire(context.runtimeRoot(), vmId, lockTimeout)) {
                return stopper.stop(lock, pluginStop(vmId));
            }
        }));
    }

    /**
     * Whether no lock of {@code vmId} was ever taken under this root: then no VM of that id is being
     * started (a start locks first), and an id found to have no VM needs no lock to say so. Otherwise
     * the lock file exists already and taking it creates nothing: a stop or reattach during a start
     * waits for the start, as it always did.
     */
    private boolean neverLocked(String vmId) {
        return !Files.exists(VmLock.lockFile(context.runtimeRoot(), vmId), LinkOption.NOFOLLOW_LINKS);
    }

    /**
     * Runs a VM operation with the VM's id in the log MDC ({@link VmTaggedLogging}) and
     * counts its error by kind; {@code type} null means: as recorded, where known.
     */
    private <T> T measured(String type, String vmId, String operation, Supplier<T> action) {
        try {
            return VmTaggedLogging.call(vmId, action);
        } catch (RuntimeException e) {
            metrics.error(type != null ? type : recordedType(vmId), operation, e);
            throw e;
        }
    }

    private String recordedType(String vmId) {
        try {
            return context.stateStore().load(vmId).map(VmRecord::hypervisorType).orElse("unknown");
        } catch (RuntimeException unreadable) {
            return "unknown";
        }
    }

    /** The VMs under the runtime root whose VMM runs, for the running-VMs gauge. */
    private int runningVms() {
        return (int) list().stream().filter(e -> e instanceof VmEntry.Recorded r && r.vmmAlive()).count();
    }

    /**
     * Follows a running VM's events without taking its lock, so the process that
     * holds the VM, and {@code stop}, work as before; see
     * {@link HypervisorFactory#follow}. The listener gets {@link io.hvspi.spi.VmEvent#VMM_EXITED}
     * once when the VMM is gone; close the subscription to stop earlier.
     *
     * @throws RequestRejectedException (NOT_FOUND) when no VM of that id is recorded
     * @throws VmmUnavailableException when its VMM is gone
     */
    public Hypervisor.Subscription follow(String vmId, Consumer<io.hvspi.spi.VmEvent> listener) {
        VmRecord record = record(vmId);
        Objects.requireNonNull(listener, "listener");
        return whileOpen(() -> {
            Followed followed = new Followed();
            following.add(followed);
            try {
                followed.plugins = factory(record.hypervisorType()).follow(record, context, event -> {
                    try {
                        listener.accept(event);
                    } finally {
                        if (event.name().equals(io.hvspi.spi.VmEvent.VMM_EXITED)) {
                            following.remove(followed); // the last event: nothing is left to end at the host's close
                        }
                    }
                });
            } catch (RuntimeException | Error e) {
                following.remove(followed);
                throw e;
            }
            return followed;
        });
    }

    /**
     * A VM's log files by role ({@code vmm}, {@code console}), as its plugin keeps
     * them; read without the VM's lock. A file may not exist yet, or be gone with the VM.
     *
     * @throws RequestRejectedException (NOT_FOUND) when no VM of that id is recorded
     */
    public Map<String, Path> logFiles(String vmId) {
        VmRecord record = record(vmId);
        return whileOpen(() -> factory(record.hypervisorType()).logFiles(record));
    }

    /** The plugin's own stop, when the record can be read; its failures are the stopper's to report. */
    private Optional<Runnable> pluginStop(String vmId) {
        Optional<VmRecord> record;
        try {
            record = context.stateStore().load(vmId);
        } catch (HvspiException corrupt) {
            return Optional.empty(); // the stopper reports it and finds the VMM through /proc
        }
        return record.map(r -> () -> {
            try (Hypervisor vm = factory(r.hypervisorType()).reattach(r, context)) {
                vm.stop();
            }
        });
    }

    /**
     * Every VM directory under the runtime root: a usable record (with whether its
     * VMM is verified alive), a directory without a record, or a corrupt record with
     * the reason; one bad record never hides the others. Takes no lock and changes nothing.
     */
    public List<VmEntry> list() {
        return ((JsonVmStateStore) context.stateStore()).entries();
    }

    private VmRecord record(String vmId) {
        return context.stateStore().load(vmId).orElseThrow(() -> new RequestRejectedException(
                RequestRejectedException.Reason.NOT_FOUND,
                "no VM '" + vmId + "' recorded in " + context.runtimeRoot() + " (see: hvctl vm list)"));
    }

    /**
     * The plugins, loaded on first use: listing VMs or loading a configuration needs none.
     *
     * @throws IllegalStateException once the host is closed (its plugins are unloaded)
     */
    public synchronized PluginRegistry plugins() {
        requireOpen();
        if (registry == null) {
            registry = loader.get();
        }
        return registry;
    }

    /** The factory of a hypervisor type, or a {@code PluginException} listing what is installed. */
    public HypervisorFactory factory(String type) {
        return plugins().factory(type);
    }

    /** Where VMs keep their runtime directories and records. */
    public Path runtimeRoot() {
        return context.runtimeRoot();
    }

    public Duration commandTimeout() {
        return context.commandTimeout();
    }

    /**
     * What plugins get from this host. Only for tools that drive a factory directly
     * (hvctl's benchmarks compare the plugin with and without a state store); such
     * VMs are neither locked nor stopped on exit.
     */
    public DefaultHostContext context() {
        return context;
    }

    /** Runs an operation that uses plugins; {@link #close} waits for it. */
    private <T> T whileOpen(Supplier<T> operation) {
        inUse.readLock().lock();
        try {
            requireOpen();
            return operation.get();
        } finally {
            inUse.readLock().unlock();
        }
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("this HvspiHost is closed");
        }
    }

    /**
     * Closes every handle this host gave out and still open (stopping the VMs it started and
     * did not keep), after waiting for the operations in flight, and unloads the plugins.
     * Later operations that need a plugin are refused; a second close does nothing.
     */
    @Override
    public void close() {
        inUse.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
        } finally {
            inUse.writeLock().unlock();
        }
        Throwable first = null;
        List<AutoCloseable> closing = new java.util.ArrayList<>(open);
        closing.addAll(following); // their plugin threads must end before the plugins' class loaders close
        for (AutoCloseable each : closing) {
            try {
                each.close();
            } catch (Exception | Error e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        synchronized (this) {
            if (ownsRegistry && registry != null) {
                registry.close();
            }
        }
        if (first instanceof Error e) {
            throw e;
        }
        if (first instanceof RuntimeException e) {
            throw e;
        }
        if (first != null) { // a checked exception a plugin's close threw undeclared
            throw new HvspiException("closing the host: " + first, first);
        }
    }

    /** Builds an {@link HvspiHost}. Plugins must come from at least one source. */
    public static final class Builder {
        private Path pluginsDir;
        private PluginRegistry registry;
        private boolean classpathPlugins;
        private Path runtimeRoot;
        private Duration commandTimeout = DefaultHostContext.DEFAULT_COMMAND_TIMEOUT;
        private Duration lockTimeout;
        private final Map<String, String> options = new LinkedHashMap<>();
        private HostMetrics metrics = HostMetrics.NONE;

        private Builder() {}

        /**
         * Records hotplug latency, VMM round trips, errors by kind and running VMs
         * (default: nothing). With Micrometer: {@code metrics(MicrometerMetrics.of(registry))}.
         */
        public Builder metrics(HostMetrics metrics) {
            this.metrics = Objects.requireNonNull(metrics, "metrics");
            return this;
        }

        /** Loads every plugin jar in this directory (a distribution's {@code plugins/}). */
        public Builder pluginsDir(Path dir) {
            this.pluginsDir = Objects.requireNonNull(dir, "dir");
            return this;
        }

        /** Uses plugins already loaded; the host does not close this registry. */
        public Builder plugins(PluginRegistry loaded) {
            this.registry = Objects.requireNonNull(loaded, "loaded");
            return this;
        }

        /**
         * Also finds the plugins on the class path that loaded hvspi (plugin jars as ordinary
         * dependencies, found through their {@code META-INF/extensions.idx}).
         */
        public Builder classpathPlugins() {
            this.classpathPlugins = true;
            return this;
        }

        /** Where VMs keep runtime directories and records (default: {@link RuntimeDirs#defaultRoot()}). */
        public Builder runtimeRoot(Path dir) {
            this.runtimeRoot = Objects.requireNonNull(dir, "dir");
            return this;
        }

        /** The timeout of one command to a VMM (default 10 s). */
        public Builder commandTimeout(Duration timeout) {
            this.commandTimeout = positive(timeout, "commandTimeout");
            return this;
        }

        /** How long to wait for a VM's lock that another process or thread holds (default: the command timeout). */
        public Builder lockTimeout(Duration timeout) {
            this.lockTimeout = Objects.requireNonNull(timeout, "timeout");
            return this;
        }

        /** A named option plugins read through {@link HostContext#option(String)}. */
        public Builder option(String key, String value) {
            options.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
            return this;
        }

        public HvspiHost build() {
            if (registry != null && (pluginsDir != null || classpathPlugins)) {
                throw new IllegalStateException("give either plugins(registry) or pluginsDir/classpathPlugins");
            }
            DefaultHostContext context = new DefaultHostContext(
                    runtimeRoot != null ? runtimeRoot : RuntimeDirs.defaultRoot(), commandTimeout, options);
            Duration lock = lockTimeout != null ? lockTimeout : commandTimeout;
            if (registry != null) {
                PluginRegistry given = registry;
                return new HvspiHost(() -> given, false, context, lock, metrics);
            }
            if (!classpathPlugins && pluginsDir == null) {
                throw new IllegalStateException("no plugin source: call pluginsDir(...), plugins(...) or"
                        + " classpathPlugins()");
            }
            Path dir = pluginsDir;
            boolean classpath = classpathPlugins;
            return new HvspiHost(() -> loadPlugins(dir, classpath), true, context, lock, metrics);
        }

        private static PluginRegistry loadPlugins(Path dir, boolean classpath) {
            PluginRegistry.Builder plugins = PluginRegistry.builder();
            if (dir != null) {
                plugins.directory(dir);
            }
            if (classpath) {
                plugins.classpath();
            }
            return plugins.load();
        }

        private static Duration positive(Duration d, String name) {
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(name + " must be positive, got " + d);
            }
            return d;
        }
    }
}
