package io.hvspi.plugin.dragonball;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.dragonball.bridge.BridgeClient;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import io.hvspi.sim.dragonball.DragonballBridgeSimulator;
import io.hvspi.sim.dragonball.DragonballBridgeSimulator.Options;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A bridge that dies or goes silent gives an error within the timeout, an event, and a clean stop. */
class DragonballPeerFailureTest {
    private static final Duration NO_HANG = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private final DragonballHypervisorFactory factory = new DragonballHypervisorFactory();
    private DragonballBridgeSimulator sim;
    private DefaultHostContext host;
    private Hypervisor vm;

    /** Silence costs one command timeout per call: keep it short here. */
    private static final Duration COMMAND_TIMEOUT = Duration.ofMillis(500);

    private Hypervisor started(Options options) {
        sim = DragonballBridgeSimulator.start(dir.resolve("sim"), options);
        host = TestVms.host(dir.resolve("run"), sim, COMMAND_TIMEOUT);
        vm = factory.create(TestVms.spec("vm1", TestVms.kernel(dir)), host);
        vm.start();
        return vm;
    }

    @AfterEach
    void tearDown() {
        TestVms.stopInTeardown(vm);
        if (sim != null) {
            sim.close();
        }
    }

    @Test
    void aVmmThatDiesIsReportedAndLaterCallsFailAtOnce() throws InterruptedException {
        started(Options.defaults());
        BlockingQueue<VmEvent> events = new LinkedBlockingQueue<>();
        vm.subscribe(events::add);
        sim.close(); // the sidecar process goes away
        VmEvent exited = events.poll(5, TimeUnit.SECONDS);
        assertEquals(VmEvent.VMM_EXITED, exited.name());
        assertEquals("EXITED", exited.data().get("reason"));
        assertEquals(VmState.FAILED, vm.state());
        VmmUnavailableException e = assertTimeoutPreemptively(NO_HANG, () -> assertThrows(
                VmmUnavailableException.class, () -> vm.requireHotplug().attach(
                        BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build())));
        assertEquals(Reason.EXITED, e.reason());
        vm.stop();
        assertTrue(host.stateStore().load("vm1").isEmpty(), "stop cleans up after a dead VMM");
        assertFalse(Files.exists(host.runtimeRoot().resolve("vm1")));
    }

    @Test
    void aVmmThatDiesDuringACallFailsThatCall() {
        started(Options.defaults().withCrashingActions("PauseMicroVm"));
        VmmUnavailableException e = assertTimeoutPreemptively(NO_HANG,
                () -> assertThrows(VmmUnavailableException.class, vm::pause));
        assertEquals(Reason.EXITED, e.reason());
        assertTrue(e.getMessage().startsWith("PauseMicroVm: "), e.getMessage());
    }

    @Test
    void aSilentVmmTimesOutWithinTheCommandTimeout() {
        started(Options.defaults().withStalledActions("PauseMicroVm", "ListThreads"));
        VmmUnavailableException pause = assertTimeoutPreemptively(NO_HANG,
                () -> assertThrows(VmmUnavailableException.class, vm::pause));
        assertEquals(Reason.TIMED_OUT, pause.reason());
        assertEquals(Reason.TIMED_OUT, assertThrows(VmmUnavailableException.class, vm::hostThreads).reason());
        assertEquals(VmState.RUNNING, vm.state(), "a timeout alone does not drop the connection");
    }

    /**
     * At an endpoint there is no sidecar to signal: a ShutdownMicroVm the bridge does not answer
     * proves nothing, so stop fails in one line (within the timeout) and keeps the record of a VM
     * that may still run; a later stop, once the bridge is gone, removes it.
     */
    @Test
    void stopOfASilentVmmAtAnEndpointKeepsTheRecordAndALaterStopRetries() {
        started(Options.defaults().withStalledActions("ShutdownMicroVm"));
        VmmUnavailableException e = assertTimeoutPreemptively(NO_HANG,
                () -> assertThrows(VmmUnavailableException.class, vm::stop));
        assertEquals(Reason.TIMED_OUT, e.reason());
        assertTrue(e.getMessage().startsWith("cannot stop VM 'vm1' at endpoint " + sim.endpoint() + ": "),
                e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(host.stateStore().load("vm1").isPresent(), "the record of a VM that may still run is kept");
        assertTrue(Files.isDirectory(host.runtimeRoot().resolve("vm1")));
        assertEquals("Running", sim.instanceState());
        assertEquals(VmState.RUNNING, vm.state(), "not stopped: a later stop retries");

        sim.close(); // the bridge goes away: its socket refuses connections, proof enough
        assertTimeoutPreemptively(NO_HANG, vm::stop);
        assertEquals(VmState.STOPPED, vm.state());
        assertTrue(host.stateStore().load("vm1").isEmpty());
        assertFalse(Files.exists(host.runtimeRoot().resolve("vm1")));
    }

    /**
     * A bridge that drops the connection on ShutdownMicroVm but listens on has not shut down: the
     * dropped connection alone was taken as proof, and the record of a VM that may run was removed.
     */
    @Test
    void aBridgeThatDropsTheShutdownButListensOnKeepsTheRecord() throws Exception {
        started(Options.defaults());
        Path socket = Path.of(sim.endpoint());
        sim.close(); // the plugin's connection ends; a bridge that speaks, then drops the shutdown, takes its place
        try (java.nio.channels.ServerSocketChannel fake = java.nio.channels.ServerSocketChannel.open(
                java.net.StandardProtocolFamily.UNIX)) {
            Files.deleteIfExists(socket);
            fake.bind(java.net.UnixDomainSocketAddress.of(socket));
            Thread bridge = Thread.ofVirtual().start(() -> {
                while (true) {
                    try (java.nio.channels.SocketChannel c = fake.accept();
                         var in = new java.io.BufferedReader(java.nio.channels.Channels.newReader(c,
                                 java.nio.charset.StandardCharsets.UTF_8));
                         var out = java.nio.channels.Channels.newWriter(c, java.nio.charset.StandardCharsets.UTF_8)) {
                        out.write("{\"bridge\":\"hvspi-dragonball\",\"versions\":[1]}\n");
                        out.flush();
                        in.readLine(); // the version
                        out.write("{\"version\":1}\n");
                        out.flush();
                        in.readLine(); // ShutdownMicroVm: dropped, unanswered
                    } catch (java.io.IOException e) {
                        return; // the listener closed
                    }
                }
            });
            VmmUnavailableException e = assertTimeoutPreemptively(NO_HANG,
                    () -> assertThrows(VmmUnavailableException.class, vm::stop));
            assertEquals(Reason.TIMED_OUT, e.reason(), e::getMessage);
            assertTrue(host.stateStore().load("vm1").isPresent(), "the record of a VM that may still run is kept");
            fake.close();
            bridge.join(NO_HANG.toMillis());
        }
        assertTimeoutPreemptively(NO_HANG, vm::stop); // nothing listens now: proof
        assertTrue(host.stateStore().load("vm1").isEmpty());
    }

    /** A confirmed ShutdownMicroVm is proof: the record goes, and a subscriber hears VMM_EXITED once. */
    @Test
    void stopAtAnEndpointThatDragonballConfirmsRemovesTheRecordAndReportsTheExitOnce() throws Exception {
        started(Options.defaults());
        BlockingQueue<VmEvent> events = new LinkedBlockingQueue<>();
        vm.subscribe(events::add);
        vm.stop();
        assertTrue(sim.awaitTermination(NO_HANG));
        assertTrue(host.stateStore().load("vm1").isEmpty());
        assertEquals(VmEvent.VMM_EXITED, events.poll(5, TimeUnit.SECONDS).name());
        assertEquals(null, events.poll(300, TimeUnit.MILLISECONDS), "once");
    }

    /**
     * docs/plugin-guide.md, "Calls from several threads": stop does not wait for an attach the
     * VMM is slow to answer. Stop used to take the lock the attach holds across its whole call.
     */
    @Test
    void stopDoesNotWaitForAnAttachTheVmmDoesNotAnswer() throws Exception {
        Duration timeout = Duration.ofSeconds(4);
        sim = DragonballBridgeSimulator.start(dir.resolve("sim"), Options.defaults()
                .withStalledActions("InsertBlockDevice"));
        host = TestVms.host(dir.resolve("run"), sim, timeout);
        vm = factory.create(TestVms.spec("vm1", TestVms.kernel(dir)), host);
        vm.start();
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
        try {
            List<java.util.concurrent.Future<BlockDevice>> attaches = new java.util.ArrayList<>();
            for (String id : List.of("d0", "d1")) {
                attaches.add(pool.submit(() -> vm.requireHotplug().attach(
                        BlockDeviceSpec.builder(id, BlockBackend.nullBackend()).build())));
            }
            Thread.sleep(300); // the first attach waits for its answer, holding the device lock
            long began = System.nanoTime();
            vm.stop();
            Duration took = Duration.ofNanos(System.nanoTime() - began);
            assertTrue(took.compareTo(timeout.dividedBy(2)) < 0, "stop took " + took.toMillis() + " ms");
            for (java.util.concurrent.Future<BlockDevice> attach : attaches) {
                java.util.concurrent.ExecutionException failed = assertThrows(
                        java.util.concurrent.ExecutionException.class, () -> attach.get(10, TimeUnit.SECONDS));
                assertTrue(failed.getCause() instanceof io.hvspi.spi.HvspiException, failed.getCause().toString());
            }
            assertTrue(host.stateStore().load("vm1").isEmpty(), "no attach saved the record again");
            assertFalse(Files.exists(host.runtimeRoot().resolve("vm1")), "nor made the runtime directory again");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void reattachSeesTheSameDrivesAndCanDetachThem() {
        started(Options.defaults());
        BlockDevice d0 = vm.requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());
        vm.close();
        assertEquals("Running", sim.instanceState(), "close only disconnects");

        VmRecord record = host.stateStore().load("vm1").orElseThrow();
        vm = factory.reattach(record, host);
        assertEquals(VmState.RUNNING, vm.state());
        assertEquals(List.of(d0), vm.requireHotplug().list());
        vm.requireHotplug().detach("d0");
        assertEquals(List.of(), sim.driveIds());
        assertFalse(Files.exists(record.runtimeDir().resolve("null-d0.img")));
    }

    @Test
    void reattachingAVmWhoseVmmIsGoneFails() {
        started(Options.defaults());
        vm.close();
        VmRecord record = host.stateStore().load("vm1").orElseThrow();
        sim.close();
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> factory.reattach(record, host));
        assertEquals(Reason.EXITED, e.reason());
        vm = null;
    }

    /** A record whose drives do not parse is refused in one line, before a connection is made that would leak. */
    @Test
    void aRecordWithACorruptDriveIsRefusedWithoutConnecting() {
        started(Options.defaults());
        vm.requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());
        vm.close();
        VmRecord record = host.stateStore().load("vm1").orElseThrow();
        VmRecord corrupt = new VmRecord(record.vmId(), record.hypervisorType(), record.pid(), record.runtimeDir(),
                record.createdAt(), record.pluginState().replaceFirst("\"null_size\":\\d+", "\"null_size\":0"));
        int before = sim.connectionsAccepted(); // not the open ones: the closed VM's may still be closing
        io.hvspi.spi.HvspiException e = assertThrows(io.hvspi.spi.HvspiException.class,
                () -> factory.reattach(corrupt, host));
        assertTrue(e.getMessage().startsWith("VM 'vm1': corrupt dragonball plugin state: "), e.getMessage());
        assertEquals(before, sim.connectionsAccepted(), "no connection made for a record that does not parse");
        vm = factory.reattach(record, host);
    }

    /**
     * At an endpoint (no sidecar of ours), the bridge outlives a dropped connection: stop connects
     * again and shuts the VM down instead of forgetting a VM that still runs.
     */
    @Test
    void stopAfterTheConnectionDroppedStillShutsTheVmDown() throws Exception {
        started(Options.defaults());
        java.lang.reflect.Field client = DragonballHypervisor.class.getDeclaredField("client");
        client.setAccessible(true);
        ((BridgeClient) client.get(vm)).close(); // the connection drops; the bridge and its VM run on
        assertEquals("Running", sim.instanceState());
        assertTimeoutPreemptively(NO_HANG, vm::stop);
        assertTrue(sim.awaitTermination(NO_HANG), "the bridge got ShutdownMicroVm over a new connection");
        assertTrue(host.stateStore().load("vm1").isEmpty());
    }
}
