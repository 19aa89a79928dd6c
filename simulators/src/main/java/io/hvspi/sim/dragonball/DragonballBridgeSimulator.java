package io.hvspi.sim.dragonball;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.sim.VmmSimulator;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A stand-in for a Dragonball bridge sidecar: serves the hvspi Dragonball bridge
 * protocol ({@code docs/dragonball-bridge-protocol.md}) on a Unix socket and keeps
 * one simulated Dragonball VMM behind it, with Dragonball's state rules and error
 * variants. Its vCPU and block queue threads are real threads of this JVM named
 * as Dragonball names them ({@code db_vcpu<i>}, {@code blk_iothread_q<i>}), so host
 * thread ids can be read back from {@code /proc}.
 *
 * <p>One simulator is one VMM with one VM, as one Dragonball instance is. After
 * {@code ShutdownMicroVm} it stops serving, as the VMM process would exit; the
 * socket file stays until {@link #close()}.
 *
 * <pre>{@code
 * try (var sim = DragonballBridgeSimulator.start(dir)) {
 *     host = host.withOption("endpoint", sim.endpoint());
 *     ...
 * }
 * }</pre>
 *
 * It also runs as a sidecar process: {@code java -cp ... DragonballBridgeSimulator --api-sock PATH}.
 */
public final class DragonballBridgeSimulator implements VmmSimulator {
    /** The {@code bridge} member of the greeting. */
    public static final String BRIDGE_NAME = "hvspi-dragonball";
    /** The protocol version this simulator speaks by default. */
    public static final int PROTOCOL_VERSION = 1;
    /** The longest line either side accepts, in bytes without the newline. */
    public static final int DEFAULT_MAX_LINE_BYTES = 1 << 20;
    /** The socket's file name under the directory given to {@link #start(Path)}. */
    public static final String SOCKET_NAME = "dragonball-bridge.sock";
    /** What the greeting reports as Dragonball's version. */
    public static final String VMM_VERSION = "hvspi-simulator";

    private static final Logger LOG = LoggerFactory.getLogger(DragonballBridgeSimulator.class);

    /**
     * How the simulator behaves, including faults for tests.
     *
     * @param versions the protocol versions it offers in the greeting and accepts
     * @param maxLineBytes the longest request line it reads
     * @param upcallNotReadyAfterStart how many hotplug requests after {@code StartMicroVm} answer
     *        {@code UpcallServerNotReady} (a guest that has not connected the upcall channel yet)
     * @param stalledActions actions it reads and never answers (a hung VMM)
     * @param crashingActions actions on which it drops every connection and stops (a VMM that dies)
     * @param silent greet nobody and answer nothing
     * @param greeting a raw first line to send instead of the greeting
     */
    public record Options(List<Integer> versions, int maxLineBytes, int upcallNotReadyAfterStart,
                          Set<String> stalledActions, Set<String> crashingActions, boolean silent,
                          Optional<String> greeting) {
        public Options {
            versions = List.copyOf(versions);
            stalledActions = Set.copyOf(stalledActions);
            crashingActions = Set.copyOf(crashingActions);
        }

        /** A well-behaved bridge speaking version 1. */
        public static Options defaults() {
            return new Options(List.of(PROTOCOL_VERSION), DEFAULT_MAX_LINE_BYTES, 0, Set.of(), Set.of(), false,
                    Optional.empty());
        }

        public Options withVersions(Integer... v) {
            return new Options(Arrays.asList(v), maxLineBytes, upcallNotReadyAfterStart, stalledActions,
                    crashingActions, silent, greeting);
        }

        public Options withMaxLineBytes(int max) {
            return new Options(versions, max, upcallNotReadyAfterStart, stalledActions, crashingActions, silent,
                    greeting);
        }

        public Options withUpcallNotReadyAfterStart(int count) {
            return new Options(versions, maxLineBytes, count, stalledActions, crashingActions, silent, greeting);
        }

        public Options withStalledActions(String... actions) {
            return new Options(versions, maxLineBytes, upcallNotReadyAfterStart, Set.of(actions), crashingActions,
                    silent, greeting);
        }

        public Options withCrashingActions(String... actions) {
            return new Options(versions, maxLineBytes, upcallNotReadyAfterStart, stalledActions, Set.of(actions),
                    silent, greeting);
        }

        public Options withSilence() {
            return new Options(versions, maxLineBytes, upcallNotReadyAfterStart, stalledActions, crashingActions,
                    true, greeting);
        }

        public Options withGreeting(String rawLine) {
            return new Options(versions, maxLineBytes, upcallNotReadyAfterStart, stalledActions, crashingActions,
                    silent, Optional.of(rawLine));
        }
    }

    private final Path socket;
    private final Options options;
    private final ServerSocketChannel server;
    private final ExecutorService master;
    private final DragonballVm vm;
    private final long pid = ProcessHandle.current().pid();
    private final Set<BridgeConnection> connections = new CopyOnWriteArraySet<>();
    private final java.util.concurrent.atomic.AtomicInteger accepted = new java.util.concurrent.atomic.AtomicInteger();
    private final AtomicBoolean terminated = new AtomicBoolean();
    private final CountDownLatch terminatedLatch = new CountDownLatch(1);
    private final Thread acceptor;

    private DragonballBridgeSimulator(Path socket, Options options) throws IOException {
        this.socket = socket;
        this.options = options;
        // Dragonball runs every VmmAction on one vmm_master thread; so does the simulator.
        this.master = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "vmm_master");
            t.setDaemon(true);
            return t;
        });
        long masterTid = submit(SimThread::currentTid);
        this.vm = new DragonballVm(socket.getParent().getFileName().toString(), VMM_VERSION, pid, masterTid,
                options.upcallNotReadyAfterStart());
        Files.createDirectories(socket.getParent());
        Files.deleteIfExists(socket);
        this.server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
        this.acceptor = new Thread(this::acceptLoop, "db_api_server");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** Starts a well-behaved simulator serving {@code dir/}{@value #SOCKET_NAME}. */
    public static DragonballBridgeSimulator start(Path dir) {
        return start(dir, Options.defaults());
    }

    /** Starts a simulator serving {@code dir/}{@value #SOCKET_NAME}. */
    public static DragonballBridgeSimulator start(Path dir, Options options) {
        return startAt(dir.resolve(SOCKET_NAME), options);
    }

    /** Starts a simulator serving exactly this socket path. */
    public static DragonballBridgeSimulator startAt(Path socket, Options options) {
        try {
            return new DragonballBridgeSimulator(socket.toAbsolutePath(), options);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the Dragonball bridge simulator on " + socket + ": "
                    + e.getMessage(), e);
        }
    }

    @Override
    public String hypervisorType() {
        return "dragonball";
    }

    /** The socket path, as a string: what the plugin takes as its {@code endpoint} option. */
    @Override
    public String endpoint() {
        return socket.toString();
    }

    public Path socketPath() {
        return socket;
    }

    public Options options() {
        return options;
    }

    /** Dragonball's {@code InstanceState} of the VM: Uninitialized, Running, Paused or Exited. */
    public String instanceState() {
        return terminated.get() ? DragonballVm.InstanceState.Exited.name() : submit(() -> vm.state().name());
    }

    /** The drive ids Dragonball holds, root device first. */
    public List<String> driveIds() {
        return terminated.get() ? List.of() : submit(vm::driveIds);
    }

    /** The network interface ids Dragonball holds, in insertion order. */
    public List<String> netIds() {
        return terminated.get() ? List.of() : submit(vm::netIds);
    }

    /** How many hotplug requests needed the guest's upcall channel: the refused ones (not ready) and the others. */
    public int upcallRequests() {
        return terminated.get() ? 0 : submit(vm::upcallRequests);
    }

    /** How many clients are connected now. */
    public int connectionCount() {
        return connections.size();
    }

    /** Connections accepted since the start, closed ones included: a count that only grows. */
    public int connectionsAccepted() {
        return accepted.get();
    }

    /** True once the VMM stopped serving ({@code ShutdownMicroVm}, a crash fault, or {@link #close()}). */
    public boolean isTerminated() {
        return terminated.get();
    }

    /** Waits until the VMM stopped serving; false when the timeout passed first. */
    public boolean awaitTermination(Duration timeout) throws InterruptedException {
        return terminatedLatch.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Stops serving, drops every connection, ends the simulated threads and removes the socket. */
    @Override
    public void close() {
        terminate();
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            LOG.warn("cannot remove simulator socket {}: {}", socket, e.getMessage());
        }
    }

    /** The VMM goes away: no more connections, threads gone; the socket file stays (as after a process exit). */
    void terminate() {
        if (!terminated.compareAndSet(false, true)) {
            return;
        }
        try {
            server.close();
            // NIO defers closing a channel another thread is blocked accepting on until that
            // thread wakes; until then the socket still accepts connections
            if (Thread.currentThread() != acceptor) {
                acceptor.join(TimeUnit.SECONDS.toMillis(5));
            }
        } catch (IOException e) {
            LOG.debug("closing simulator server socket: {}", e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        connections.forEach(BridgeConnection::close);
        try {
            master.submit(vm::terminate).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.warn("simulated VMM did not stop cleanly: {}", e.toString());
        }
        master.shutdown();
        terminatedLatch.countDown();
    }

    long pid() {
        return pid;
    }

    /** Runs an action on the {@code vmm_master} thread; empty when the VMM is gone. */
    Optional<Future<JsonNode>> execute(String action, JsonNode config) {
        try {
            return Optional.of(master.submit(() -> vm.handle(action, config)));
        } catch (RejectedExecutionException e) {
            return Optional.empty();
        }
    }

    void forget(BridgeConnection connection) {
        connections.remove(connection);
    }

    private <T> T submit(Callable<T> task) {
        try {
            return master.submit(task).get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("simulated VMM failed: " + e, e);
        }
    }

    private void acceptLoop() {
        while (!terminated.get()) {
            SocketChannel channel;
            try {
                channel = server.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                if (!terminated.get()) {
                    LOG.warn("simulator accept failed: {}", e.getMessage());
                }
                return;
            }
            BridgeConnection c = new BridgeConnection(this, channel);
            connections.add(c);
            accepted.incrementAndGet();
            if (terminated.get()) {
                c.close();
                return;
            }
            Thread t = new Thread(c::serve, "db_api_conn");
            t.setDaemon(true);
            t.start();
        }
    }

    /**
     * Runs the simulator as a bridge sidecar: {@code --api-sock PATH [--versions 1,2]}. Exits 0
     * after {@code ShutdownMicroVm} or SIGTERM.
     */
    public static void main(String[] args) throws InterruptedException {
        Path socket = null;
        Options options = Options.defaults();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--api-sock" -> socket = Path.of(args[++i]);
                case "--versions" -> options = options.withVersions(Arrays.stream(args[++i].split(","))
                        .map(String::trim).map(Integer::valueOf).toArray(Integer[]::new));
                default -> {
                    System.err.println("usage: DragonballBridgeSimulator --api-sock PATH [--versions 1,2]");
                    System.exit(2);
                }
            }
        }
        if (socket == null) {
            System.err.println("usage: DragonballBridgeSimulator --api-sock PATH [--versions 1,2]");
            System.exit(2);
        }
        DragonballBridgeSimulator sim = startAt(socket, options);
        Runtime.getRuntime().addShutdownHook(new Thread(sim::close, "db_sim_shutdown"));
        sim.terminatedLatch.await();
        sim.close();
    }
}
