package io.hvspi.plugin.clh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.clh.api.ClhApiClient;
import io.hvspi.spi.ConfigException;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.NetBackend;
import io.hvspi.spi.NetDevice;
import io.hvspi.spi.NetDeviceSpec;
import io.hvspi.spi.NetworkHotplug;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.sim.clh.ClhSimulator;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/**
 * The plugin against the Cloud Hypervisor simulator (one per VM, in this JVM),
 * plus what only a simulator can show: the exact REST calls, refused bodies,
 * slow ejection, a VMM that hangs or goes away.
 */
class ClhHypervisorOnSimulatorTest extends ClhHypervisorBehaviour {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Map<String, ClhSimulator> simulators = new HashMap<>();
    private final List<AutoCloseable> resources = new ArrayList<>();
    private ClhSimulator.Options options = ClhSimulator.Options.defaults();
    private final Map<String, String> hostOptions = new HashMap<>();

    @Override
    HostContext hostFor(String vmId) {
        ClhSimulator sim = ClhSimulator.start(tmp.resolve("sim-" + vmId), options);
        simulators.put(vmId, sim);
        DefaultHostContext host = new DefaultHostContext(tmp.resolve("run"), Duration.ofSeconds(10), hostOptions);
        return host.withOption("endpoint", sim.endpoint());
    }

    @Override
    Path binary() {
        return Path.of("/nonexistent/cloud-hypervisor"); // never spawned: the endpoint option is set
    }

    @Override
    Optional<Path> kernel() {
        Path kernel = tmp.resolve("vmlinux");
        try {
            if (!Files.exists(kernel)) {
                Files.writeString(kernel, "not a kernel: the simulator only opens it");
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return Optional.of(kernel);
    }

    @Override
    void cleanupBackend() {
        simulators.values().forEach(ClhSimulator::close);
        for (AutoCloseable r : resources) {
            try {
                r.close();
            } catch (Exception e) {
                // best effort
            }
        }
    }

    private List<String> requests(String vmId) {
        return simulators.get(vmId).calls().stream().map(ClhSimulator.Call::request).toList();
    }

    @Test
    void theRestCallsFollowKatasSequence() throws InterruptedException {
        Hypervisor vm = running("seq1", 2);
        assertEquals(List.of("GET /api/v1/vmm.ping", "PUT /api/v1/vm.create", "PUT /api/v1/vm.boot"), requests("seq1"));
        vm.requireHotplug().attach(disk("disk0").build());
        vm.requireHotplug().detach("disk0");
        ClhSimulator sim = simulators.get("seq1");
        vm.stop();
        List<String> calls = requests("seq1");
        assertEquals(List.of("PUT /api/v1/vm.add-disk", "GET /api/v1/vm.info", "PUT /api/v1/vm.remove-device",
                "GET /api/v1/vm.info", "PUT /api/v1/vm.shutdown", "PUT /api/v1/vmm.shutdown"), calls.subList(3, calls.size()));
        assertTrue(sim.calls().stream().allMatch(c -> c.status() < 300), "every body the plugin sent was accepted");
        assertTrue(sim.awaitShutdown(Duration.ofSeconds(5)), "vmm.shutdown ends the VMM");

        JsonNode add = body(sim.calls().get(3));
        assertEquals("disk0", add.get("id").asText());
        assertEquals(2, add.get("num_queues").asInt(), "one queue per vCPU");
        assertEquals(1024, add.get("queue_size").asInt(), "Kata's queue size");
        assertFalse(add.get("readonly").asBoolean());
        assertEquals("Raw", add.get("image_type").asText());
        JsonNode create = body(sim.calls().get(1));
        assertEquals(2, create.at("/cpus/boot_vcpus").asInt());
        assertEquals(256L << 20, create.at("/memory/size").asLong());
        assertEquals("console=ttyS0", create.at("/payload/cmdline").asText());
    }

    @Test
    void everyBodyThePluginSendsIsValidAgainstTheOpenApiDocument() {
        Hypervisor vm = running("schema1", 2);
        vm.requireHotplug().attach(disk("d0").direct(true).queueAffinity(Map.of(0, List.of(0), 1, List.of(1))).build());
        ClhSimulator sim = simulators.get("schema1");
        for (ClhSimulator.Call call : sim.calls()) {
            call.body().ifPresent(b -> {
                String schema = sim.spec().route(call.path().substring(ClhApiClient.API_ROOT.length()))
                        .orElseThrow().bodySchema().orElseThrow();
                assertEquals(List.of(), sim.spec().validate(schema, read(b)), call.request());
            });
        }
        JsonNode add = body(sim.calls().get(3));
        assertTrue(add.get("direct").asBoolean());
        assertEquals("[{\"queue_index\":0,\"host_cpus\":[0]},{\"queue_index\":1,\"host_cpus\":[1]}]",
                add.get("queue_affinity").toString());
    }

    @Test
    void networkDevicesGoThroughAddNetAndRemoveDeviceAsKataSendsThem() {
        Hypervisor vm = running("net1", 2);
        NetDevice nic = vm.requireNetworkHotplug().attach(
                NetDeviceSpec.of("nic0", NetBackend.newTap("hvtnet1a")).withMac("0A:00:00:00:00:01").withQueues(2));
        assertEquals("0a:00:00:00:00:01", nic.mac());
        assertTrue(nic.address().orElseThrow().matches("0000:00:[0-9a-f]{2}\\.0"), nic.toString());
        ClhSimulator sim = simulators.get("net1");
        ClhSimulator.Call add = sim.calls().get(3);
        assertEquals("PUT /api/v1/vm.add-net", add.request());
        assertEquals(200, add.status());
        JsonNode body = body(add);
        assertEquals(List.of(), sim.spec().validate("NetConfig", body), "the body is a valid NetConfig");
        assertEquals("nic0", body.get("id").asText());
        assertEquals("hvtnet1a", body.get("tap").asText());
        assertEquals("0a:00:00:00:00:01", body.get("mac").asText());
        assertEquals(4, body.get("num_queues").asInt(), "two virtqueues per queue pair");
        assertEquals(256, body.get("queue_size").asInt());

        HostContext host = ((ClhHypervisor) vm).host();
        try (Hypervisor again = new ClhHypervisorFactory().reattach(host.stateStore().load("net1").orElseThrow(), host)) {
            assertEquals(List.of(nic), again.requireNetworkHotplug().list(), "a reattach reads the NIC back from "
                    + "vm.info, and from the record that hvspi asked for the tap");
            again.requireNetworkHotplug().detach("nic0");
            assertEquals(List.of(), again.requireNetworkHotplug().list());
        }
        List<String> calls = requests("net1");
        assertTrue(calls.contains("PUT /api/v1/vm.remove-device"), calls.toString());
    }

    @Test
    void addNetRefusesWhatCloudHypervisorRefusesWithItsCodesAndMessages() {
        Hypervisor vm = running("net2", 1);
        vm.requireHotplug().attach(disk("d0").build());
        ClhApiClient api = ((ClhHypervisor) vm).api();
        Duration t = Duration.ofSeconds(1);
        VmmException fewQueues = assertThrows(VmmException.class,
                () -> api.put("/vm.add-net", read("{\"tap\":\"hvtnet2a\",\"num_queues\":1}"), t));
        assertEquals("500", fewQueues.errorClass());
        assertTrue(fewQueues.vmmMessage().endsWith("Failed to validate config: "
                + "Number of queues (1) to virtio_net should be higher than 2"), fewQueues.vmmMessage());
        VmmException manyQueues = assertThrows(VmmException.class,
                () -> api.put("/vm.add-net", read("{\"tap\":\"hvtnet2a\",\"num_queues\":4}"), t));
        assertTrue(manyQueues.vmmMessage().endsWith("Queue count (4) must not exceed boot vCPUs (1)"),
                manyQueues.vmmMessage());
        VmmException sameId = assertThrows(VmmException.class,
                () -> api.put("/vm.add-net", read("{\"tap\":\"hvtnet2a\",\"id\":\"d0\"}"), t));
        assertTrue(sameId.vmmMessage().contains("Identifier d0 is not unique"), "disks and NICs share ids: "
                + sameId.vmmMessage());
        VmmException badMac = assertThrows(VmmException.class,
                () -> api.put("/vm.add-net", read("{\"tap\":\"hvtnet2a\",\"mac\":\"52:54:00\"}"), t));
        assertEquals("400", badMac.errorClass(), "serde refuses a MacAddr it cannot parse");
        VmmException notATap = assertThrows(VmmException.class,
                () -> api.put("/vm.add-net", read("{\"tap\":\"lo\"}"), t));
        assertEquals("500", notATap.errorClass());
        assertTrue(notATap.vmmMessage().contains("Unable to configure tap interface")
                && notATap.vmmMessage().contains("Invalid argument (os error 22)"), notATap.vmmMessage());
        VmmException unknownMember = assertThrows(VmmException.class,
                () -> api.put("/vm.add-net", read("{\"tap\":\"hvtnet2a\",\"fds\":[3,4]}"), t));
        assertEquals("400", unknownMember.errorClass(), "fds is not modelled: refused, never ignored");
        JsonNode info = api.get("/vm.info", t).requireBody("vm.info");
        assertEquals(0, info.path("config").path("net").size(), "nothing refused was added");
    }

    @Test
    void aBodyTheSchemaForbidsIsRefusedWith400AndTheVmmsMessages() {
        Hypervisor vm = running("bad1", 1);
        ClhApiClient api = ((ClhHypervisor) vm).api();
        VmmException e = assertThrows(VmmException.class,
                () -> api.put("/vm.add-disk", read("{\"path\": 42, \"id\": \"d0\"}"), Duration.ofSeconds(1)));
        assertEquals("400", e.errorClass());
        assertEquals("PUT /api/v1/vm.add-disk", e.command());
        assertTrue(e.vmmMessage().startsWith("Failed to deserialize JSON: DiskConfig: /path: integer found, string expected"),
                e.vmmMessage());
        VmmException serde = assertThrows(VmmException.class,
                () -> api.put("/vm.add-disk", read("{\"path\": \"/x\", \"num_queues\": -1}"), Duration.ofSeconds(1)));
        assertEquals("400", serde.errorClass());
        assertEquals("Failed to deserialize JSON: invalid value: integer `-1`, expected usize", serde.vmmMessage());
        VmmException noId = assertThrows(VmmException.class,
                () -> api.put("/vm.remove-device", read("{}"), Duration.ofSeconds(1)));
        assertEquals("Failed to deserialize JSON: missing field `id`", noId.vmmMessage());
    }

    @Test
    void anEndpointOrMemberTheSimulatorDoesNotModelIsRefusedNamingIt() {
        Hypervisor vm = running("model1", 1);
        ClhApiClient api = ((ClhHypervisor) vm).api();
        Duration t = Duration.ofSeconds(1);
        VmmException net = assertThrows(VmmException.class,
                () -> api.put("/vm.add-fs", read("{\"tag\":\"t0\",\"socket\":\"/x\"}"), t));
        assertEquals("500", net.errorClass());
        assertTrue(net.vmmMessage().contains("PUT /api/v1/vm.add-fs is not simulated"), net.vmmMessage());
        VmmException member = assertThrows(VmmException.class,
                () -> api.put("/vm.add-disk", read("{\"path\":\"/x\",\"vhost_mode\":\"Client\"}"), t));
        assertEquals("400", member.errorClass());
        assertTrue(member.vmmMessage().contains("vhost_mode"), member.vmmMessage());
    }

    @Test
    void statusCodesAndErrorBodiesAreCloudHypervisors() {
        Hypervisor vm = running("codes1", 1);
        ClhApiClient api = ((ClhHypervisor) vm).api();
        Duration t = Duration.ofSeconds(1);
        VmmException notFound = assertThrows(VmmException.class, () -> api.get("/vm.nope", t));
        assertEquals("404", notFound.errorClass());
        assertEquals("Not Found", notFound.vmmMessage());
        VmmException wrongMethod = assertThrows(VmmException.class, () -> api.get("/vm.boot", t));
        assertEquals("400", wrongMethod.errorClass());
        assertEquals("Bad Request", wrongMethod.vmmMessage());
        VmmException bodyless = assertThrows(VmmException.class, () -> api.put("/vm.add-disk", t));
        assertEquals("400", bodyless.errorClass());
        VmmException unknownDevice = assertThrows(VmmException.class,
                () -> api.put("/vm.remove-device", read("{\"id\":\"ghost\"}"), t));
        assertEquals("500", unknownDevice.errorClass());
        assertEquals("Error from API: The device could not be removed from the VM: Error from device manager: "
                + "Failed to find device corresponding to the given identifier", unknownDevice.vmmMessage());
        Path file = TestVms.disk(tmp, "raw");
        api.put("/vm.add-disk", read("{\"path\":\"" + file + "\",\"id\":\"dup\"}"), t);
        VmmException duplicate = assertThrows(VmmException.class,
                () -> api.put("/vm.add-disk", read("{\"path\":\"" + file + "\",\"id\":\"dup\"}"), t));
        assertEquals("Error from API: The disk could not be added to the VM: Failed to validate config: "
                + "Identifier dup is not unique", duplicate.vmmMessage());
        VmmException smallQueue = assertThrows(VmmException.class,
                () -> api.put("/vm.add-disk", read("{\"path\":\"" + file + "\",\"id\":\"q\",\"queue_size\":2}"), t));
        assertTrue(smallQueue.vmmMessage().endsWith("Queue size is smaller than 2: 2"), smallQueue.vmmMessage());
        VmmException twice = assertThrows(VmmException.class, () -> api.put("/vm.create",
                read("{\"payload\":{\"kernel\":\"/k\"}}"), t));
        assertEquals("Error from API: The VM could not be created: VM is already created", twice.vmmMessage());
    }

    @Test
    void anErrorBodyFromAnOlderVmmIsKeptAsPlainText() {
        assertEquals("Error from API: The disk could not be added", io.hvspi.plugin.clh.api.ErrorBodies
                .join("Error from API: The disk could not be added\n"));
    }

    @Test
    void detachWaitsUntilTheGuestHasEjectedTheDevice() {
        options = options.withEjectDelay(Duration.ofMillis(300));
        Hypervisor vm = running("eject1", 1);
        vm.requireHotplug().attach(disk("d0").build());
        Instant before = Instant.now();
        vm.requireHotplug().detach("d0", Duration.ofSeconds(5));
        assertTrue(Duration.between(before, Instant.now()).toMillis() >= 300, "returned only after the ejection");
        long polls = simulators.get("eject1").calls().stream().filter(c -> c.request().equals("GET /api/v1/vm.info")).count();
        assertTrue(polls >= 2, "polled vm.info until the device left the device tree, " + polls + " polls");
        assertTrue(vm.requireHotplug().list().isEmpty());
    }

    @Test
    void detachTimesOutWhileAPausedGuestCannotEject() {
        Hypervisor vm = running("eject2", 1);
        vm.requireHotplug().attach(disk("d0").build());
        vm.pause();
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                () -> vm.requireHotplug().detach("d0", Duration.ofMillis(200)));
        assertEquals(VmmUnavailableException.Reason.TIMED_OUT, e.reason());
        assertEquals(List.of("d0"), vm.requireHotplug().list().stream().map(d -> d.id()).toList(), "still attached");
        vm.resume();
        vm.requireHotplug().detach("d0");
        assertTrue(vm.requireHotplug().list().isEmpty());
    }

    @Test
    void aDetachAfterATimedOutEjectionOnlyWaitsAndNeverAsksAgain() {
        // v51.1 took the NIC out of its config at the first vm.remove-device; a second one panics the VMM
        options = options.withEjectDelay(Duration.ofMillis(500));
        Hypervisor vm = running("eject3", 1);
        NetworkHotplug nets = vm.requireNetworkHotplug();
        nets.attach(NetDeviceSpec.of("nic0", NetBackend.newTap("hvteject3")));
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> nets.detach("nic0", Duration.ofMillis(100)));
        assertEquals(VmmUnavailableException.Reason.TIMED_OUT, e.reason());
        nets.detach("nic0", Duration.ofSeconds(5));
        assertEquals(List.of(), nets.list());
        ClhSimulator sim = simulators.get("eject3");
        assertFalse(sim.isShutdown(), "the VMM still runs");
        assertEquals(1, requests("eject3").stream().filter("PUT /api/v1/vm.remove-device"::equals).count());
    }

    @Test
    void aVmmThatNeverAnswersFailsStartWithinTheStartTimeout() throws IOException {
        Path socket = tmp.resolve("hung.sock");
        silentVmmAt(socket); // accepts connections but never answers, like a VMM that hangs
        hostOptions.put(ClhSettings.START_TIMEOUT_KEY, "400");
        hostOptions.put(ClhSettings.API_TIMEOUT_KEY, "100");
        DefaultHostContext host = new DefaultHostContext(tmp.resolve("run"), Duration.ofSeconds(10), hostOptions)
                .withOption("endpoint", socket.toString());
        Hypervisor vm = new ClhHypervisorFactory().create(TestVms.spec("hung1", binary(), kernel(), 1, Map.of()), host);
        Instant before = Instant.now();
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, vm::start);
        assertEquals(VmmUnavailableException.Reason.TIMED_OUT, e.reason());
        assertTrue(Duration.between(before, Instant.now()).toMillis() < 3000, "an error within the timeout, no hang");
        assertFalse(Files.exists(tmp.resolve("run/hung1")), "a failed start leaves no runtime directory");
        assertTrue(host.stateStore().load("hung1").isEmpty());
    }

    @Test
    void aVmmThatGoesAwayIsReportedAsFailed() {
        Hypervisor vm = running("gone1", 1);
        simulators.get("gone1").close();
        assertEquals(VmState.FAILED, vm.state());
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, vm::pause);
        assertEquals(VmmUnavailableException.Reason.EXITED, e.reason());
    }

    /** Accepts connections on {@code socket} and never answers, like a VMM that hangs; closed after the test. */
    private ServerSocketChannel silentVmmAt(Path socket) throws IOException {
        Files.createDirectories(socket.getParent()); // the simulator removed its directory as it closed
        ServerSocketChannel server = ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        resources.add(server);
        Thread.ofPlatform().daemon().start(() -> {
            List<SocketChannel> held = new ArrayList<>();
            try {
                while (true) {
                    held.add(server.accept());
                }
            } catch (IOException e) {
                // closed by the test
            }
        });
        return server;
    }

    /**
     * With an endpoint there is no process to signal: a vmm.shutdown that is not answered proves
     * nothing, so stop fails in one line and keeps the record of a VM that may still run; a later
     * stop, once the socket refuses connections, removes it.
     */
    @Test
    void anEndpointStopThatIsNotConfirmedKeepsTheRecordAndALaterStopRetries() throws Exception {
        hostOptions.put(ClhSettings.API_TIMEOUT_KEY, "300");
        Hypervisor vm = running("hang2", 1);
        HostContext host = ((ClhHypervisor) vm).host();
        ClhSimulator sim = simulators.get("hang2");
        sim.close();
        ServerSocketChannel hung = silentVmmAt(sim.socket()); // the VMM hangs: it takes connections, answers nothing

        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, vm::stop);
        assertEquals(VmmUnavailableException.Reason.TIMED_OUT, e.reason());
        assertTrue(e.getMessage().startsWith("clh: cannot stop VM 'hang2' at endpoint " + sim.socket() + ": "),
                e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(host.stateStore().load("hang2").isPresent(), "the record of a VM that may still run is kept");
        assertTrue(Files.isDirectory(tmp.resolve("run/hang2")));

        hung.close();
        Files.deleteIfExists(sim.socket()); // the VMM is gone: nothing listens
        vm.stop();
        assertEquals(VmState.STOPPED, vm.state());
        assertTrue(host.stateStore().load("hang2").isEmpty());
        assertFalse(Files.exists(tmp.resolve("run/hang2")));
    }

    /**
     * A VMM stopped with SIGSTOP keeps its listener and accepts nothing: its backlog fills (every
     * connect stays there, closed or not) and a connect then fails with EAGAIN. That is a VMM that
     * is there: calls time out, state() reports no exit, no subscriber hears VMM_EXITED, and stop
     * keeps the record; once nothing listens, stop removes it.
     */
    @Test
    void aVmmWhoseBacklogIsFullIsThereNotExited() throws Exception {
        hostOptions.put(ClhSettings.API_TIMEOUT_KEY, "300");
        hostOptions.put(ClhSettings.STOP_TIMEOUT_KEY, "300");
        Hypervisor vm = running("full1", 1);
        HostContext host = ((ClhHypervisor) vm).host();
        ClhSimulator sim = simulators.get("full1");
        sim.close(); // and in its place a VMM that is stopped: subscribed later, the watcher sees only that one
        Files.createDirectories(sim.socket().getParent());
        ServerSocketChannel stopped = ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX);
        resources.add(stopped);
        stopped.bind(UnixDomainSocketAddress.of(sim.socket()), 1); // never accepts
        for (int i = 0; i < 8; i++) { // fill the backlog until a connect fails
            SocketChannel c = SocketChannel.open(java.net.StandardProtocolFamily.UNIX);
            resources.add(c);
            c.configureBlocking(false);
            try {
                c.connect(UnixDomainSocketAddress.of(sim.socket()));
            } catch (IOException full) {
                break;
            }
        }

        java.util.concurrent.BlockingQueue<io.hvspi.spi.VmEvent> events = new java.util.concurrent.LinkedBlockingQueue<>();
        vm.subscribe(events::add);

        VmmUnavailableException paused = assertThrows(VmmUnavailableException.class, vm::pause);
        assertEquals(VmmUnavailableException.Reason.TIMED_OUT, paused.reason(), paused.getMessage());
        VmmUnavailableException state = assertThrows(VmmUnavailableException.class, vm::state);
        assertEquals(VmmUnavailableException.Reason.TIMED_OUT, state.reason(), state.getMessage());
        VmmUnavailableException stop = assertThrows(VmmUnavailableException.class, vm::stop);
        assertEquals(VmmUnavailableException.Reason.TIMED_OUT, stop.reason(), stop.getMessage());
        assertTrue(host.stateStore().load("full1").isPresent(), "the record of a VMM that is there is kept");
        assertTrue(Files.isDirectory(tmp.resolve("run/full1")));
        assertEquals(null, events.poll(1500, TimeUnit.MILLISECONDS), "no VMM_EXITED: the VMM is there");

        stopped.close();
        Files.deleteIfExists(sim.socket()); // now it is gone
        vm.stop();
        assertTrue(host.stateStore().load("full1").isEmpty());
        assertFalse(Files.exists(tmp.resolve("run/full1")));
    }

    /**
     * With an endpoint nothing watches a process: a subscriber still hears, once, that the VMM
     * went away, without calling anything (a watcher tries the socket while someone subscribes),
     * and a call that finds it gone does not report it twice.
     */
    @Test
    void aSubscriberHearsOnceThatAnEndpointVmmWentAway() throws Exception {
        Hypervisor vm = running("gone2", 1);
        java.util.concurrent.BlockingQueue<io.hvspi.spi.VmEvent> events = new java.util.concurrent.LinkedBlockingQueue<>();
        vm.subscribe(events::add);
        simulators.get("gone2").close();
        io.hvspi.spi.VmEvent exited = events.poll(5, TimeUnit.SECONDS);
        assertTrue(exited != null, "no VMM_EXITED within 5 s");
        assertEquals(io.hvspi.spi.VmEvent.VMM_EXITED, exited.name());
        assertEquals(VmState.FAILED, vm.state());
        assertThrows(VmmUnavailableException.class, vm::pause);
        vm.stop();
        assertEquals(null, events.poll(1500, TimeUnit.MILLISECONDS), "VMM_EXITED once");
    }

    /** state() that finds the endpoint VMM gone reports it to a subscriber, once. */
    @Test
    void stateThatFindsAnEndpointVmmGoneReportsItOnce() throws Exception {
        Hypervisor vm = running("gone3", 1);
        java.util.concurrent.BlockingQueue<io.hvspi.spi.VmEvent> events = new java.util.concurrent.LinkedBlockingQueue<>();
        vm.subscribe(events::add);
        simulators.get("gone3").close();
        assertEquals(VmState.FAILED, vm.state());
        io.hvspi.spi.VmEvent exited = events.poll(5, TimeUnit.SECONDS);
        assertTrue(exited != null, "no VMM_EXITED within 5 s");
        assertEquals(io.hvspi.spi.VmEvent.VMM_EXITED, exited.name());
        assertEquals(null, events.poll(1500, TimeUnit.MILLISECONDS), "VMM_EXITED once");
    }

    @Test
    void timeoutsComeFromTheClhTableAndHostOptions() {
        Hypervisor fromTable = new ClhHypervisorFactory().create(
                TestVms.spec("t1", binary(), kernel(), 1, Map.of(ClhSettings.API_TIMEOUT_KEY, 250L)),
                new DefaultHostContext(tmp.resolve("run"), Duration.ofSeconds(10), Map.of("endpoint", "/x")));
        assertEquals(Duration.ofMillis(250), ((ClhHypervisor) fromTable).settings().apiTimeout());
        assertEquals(Duration.ofSeconds(5), ((ClhHypervisor) fromTable).settings().hotplugTimeout(), "Kata's hotplug timeout");
        Hypervisor overridden = new ClhHypervisorFactory().create(
                TestVms.spec("t2", binary(), kernel(), 1, Map.of(ClhSettings.API_TIMEOUT_KEY, 250L)),
                new DefaultHostContext(tmp.resolve("run"), Duration.ofSeconds(10),
                        Map.of("endpoint", "/x", ClhSettings.API_TIMEOUT_KEY, "2000")));
        assertEquals(Duration.ofSeconds(2), ((ClhHypervisor) overridden).settings().apiTimeout());
        ConfigException bad = assertThrows(ConfigException.class, () -> new ClhHypervisorFactory().create(
                TestVms.spec("t3", binary(), kernel(), 1, Map.of(ClhSettings.HOTPLUG_TIMEOUT_KEY, "soon")),
                new DefaultHostContext(tmp.resolve("run"), Duration.ofSeconds(10), Map.of("endpoint", "/x"))));
        assertEquals(Optional.of("hypervisor.clh.hotplug_timeout_ms"), bad.key());
    }

    @Test
    void aDiskAndANicAttachedAtOnceUnderOneIdNeitherDeadlockNorBothSucceed() {
        Hypervisor vm = running("race1", 1);
        DeviceHotplug disks = vm.requireHotplug();
        NetworkHotplug nets = vm.requireNetworkHotplug();
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            for (int round = 0; round < 40; round++) {
                String id = "dev" + round;
                String tap = "hvtrace" + round;
                CyclicBarrier together = new CyclicBarrier(2);
                Future<?> disk = pool.submit(() -> {
                    together.await();
                    return disks.attach(disk(id).build());
                });
                Future<?> nic = pool.submit(() -> {
                    together.await();
                    return nets.attach(NetDeviceSpec.of(id, NetBackend.newTap(tap)));
                });
                boolean diskAttached = attached(disk);
                boolean nicAttached = attached(nic);
                assertTrue(diskAttached ^ nicAttached, "round " + round + ": exactly one device holds id " + id
                        + " (disk " + diskAttached + ", nic " + nicAttached + ")");
                if (diskAttached) {
                    disks.detach(id);
                } else {
                    nets.detach(id);
                }
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(List.of(), disks.list());
        assertEquals(List.of(), nets.list());
    }

    /** True when the attach succeeded, false when it was refused as a duplicate id; fails on a deadlock. */
    private static boolean attached(Future<?> attach) {
        try {
            attach.get(10, TimeUnit.SECONDS);
            return true;
        } catch (ExecutionException e) {
            RequestRejectedException refused = assertInstanceOf(RequestRejectedException.class, e.getCause());
            assertEquals(RequestRejectedException.Reason.DUPLICATE_ID, refused.reason());
            return false;
        } catch (TimeoutException e) {
            throw new AssertionError("attach did not return within 10 s: a deadlock", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    @Test
    void aConfigCloudHypervisorCannotRunIsRefusedAtCreate() {
        DefaultHostContext spawning = new DefaultHostContext(tmp.resolve("run"), Duration.ofSeconds(10), Map.of());
        ConfigException noBinary = assertThrows(ConfigException.class, () -> new ClhHypervisorFactory()
                .create(TestVms.spec("c1", tmp.resolve("absent"), Optional.empty(), 1, Map.of()), spawning));
        assertEquals(Optional.of("hypervisor.clh.path"), noBinary.key());
        ConfigException noKernel = assertThrows(ConfigException.class, () -> new ClhHypervisorFactory()
                .create(TestVms.spec("c3", binary(), Optional.empty(), 1, Map.of()), spawning.withOption("endpoint", "/x")));
        assertEquals(Optional.of("hypervisor.clh.kernel"), noKernel.key(), "v51.1 boots nothing and adds no device "
                + "without a payload");
        ConfigException scsi = assertThrows(ConfigException.class, () -> new ClhHypervisorFactory().create(
                TestVms.spec("c2", binary(), kernel(), 1, Map.of("block_device_driver", "virtio-scsi")),
                spawning.withOption("endpoint", "/x")));
        assertEquals(Optional.of("hypervisor.clh.block_device_driver"), scsi.key());
    }

    private static JsonNode body(ClhSimulator.Call call) {
        return read(call.body().orElseThrow());
    }

    private static JsonNode read(String json) {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
