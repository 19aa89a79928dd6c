package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.qemu.hotplug.HostTaps;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.state.DeviceState;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.NetBackend;
import io.hvspi.spi.NetDevice;
import io.hvspi.spi.NetDeviceSpec;
import io.hvspi.spi.NetworkHotplug;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * QEMU 7.2 that stops answering (SIGSTOP): every call fails with {@code TIMED_OUT}
 * within the configured timeout; after SIGCONT QEMU carries out what it had
 * queued, and hvspi, which matches each late reply to the call that timed out,
 * undoes what a failed call created and records what a failed call removed. The
 * client recovers: the next calls work and hvspi's accounting equals QEMU's.
 */
class QemuHangTest {
    private static final Logger LOG = LoggerFactory.getLogger(QemuHangTest.class);
    private static final Duration TIMEOUT = Duration.ofMillis(500);
    /** The timeout a TIMED_OUT message names: "within N ms". */
    private static final Pattern WITHIN = Pattern.compile("within (\\d+) ms");

    @TempDir
    Path tmp;

    private DefaultHostContext host;
    private QemuHypervisor vm;
    private ProcessHandle qemu;

    /**
     * Starts with a generous timeout (a QEMU spawned on a busy host may take longer than
     * {@link #TIMEOUT} to listen and answer), then reattaches with {@link #TIMEOUT}.
     */
    private void start(String vmId) {
        DefaultHostContext starter = new DefaultHostContext(tmp.resolve("run"), Duration.ofSeconds(30), Map.of());
        try (QemuHypervisor started = (QemuHypervisor) new QemuHypervisorFactory()
                .create(TestVms.spec(vmId, 2, IOThreadPolicy.LEAST_LOADED), starter)) {
            started.start();
        }
        host = new DefaultHostContext(tmp.resolve("run"), TIMEOUT, Map.of());
        VmRecord record = host.stateStore().load(vmId).orElseThrow();
        vm = QemuHypervisor.reattach(record, host);
        qemu = ProcessHandle.of(record.pid()).orElseThrow();
    }

    @AfterEach
    void stop() {
        if (qemu != null) {
            signal("CONT");
        }
        if (vm != null) {
            vm.stop();
        }
    }

    private void signal(String name) {
        try {
            assertEquals(0, new ProcessBuilder("kill", "-" + name, Long.toString(qemu.pid())).start().waitFor());
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static BlockDeviceSpec disk(String id, IOThreadChoice choice) {
        return BlockDeviceSpec.builder(id, BlockBackend.nullBackend()).ioThread(choice).build();
    }

    /**
     * Asserts that {@code e} is a timeout that fired after at most {@code limit}: its reason, and the
     * timeout its message names (not the wall clock, which a busy 2-core host stretches).
     */
    private static void assertTimedOutWithin(Duration limit, VmmUnavailableException e, String what) {
        assertEquals(VmmUnavailableException.Reason.TIMED_OUT, e.reason(), what + ": " + e.getMessage());
        Matcher m = WITHIN.matcher(e.getMessage());
        assertTrue(m.find(), what + ": the message names the timeout that fired: " + e.getMessage());
        long named = Long.parseLong(m.group(1));
        assertTrue(named <= limit.toMillis(), what + ": a timeout of " + named + " ms fired, not one of at most "
                + limit.toMillis() + " ms: " + e.getMessage());
    }

    /** Runs a call that must time out; returns how long it took, in ms (logged, for docs/reliability.md). */
    private static long timesOut(String what, Runnable call) {
        long t0 = System.nanoTime();
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, call::run, what);
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertTimedOutWithin(TIMEOUT, e, what);
        LOG.info("SIGSTOP: {} failed with TIMED_OUT after {} ms: {}", what, ms, e.getMessage());
        return ms;
    }

    @Test
    void callsToAStoppedQemuTimeOutAndTheClientRecoversAfterSigcont() {
        start("hang");
        var hotplug = vm.requireHotplug();
        var pool = vm.requireIoThreads();
        hotplug.attach(disk("d0", IOThreadChoice.byPolicy()));
        hotplug.attach(disk("d2", IOThreadChoice.named("indep_iothread_0")));
        pool.add("spare");

        signal("STOP");
        List<Long> times = new ArrayList<>();
        times.add(timesOut("attach", () -> hotplug.attach(disk("d1", IOThreadChoice.byPolicy()))));
        times.add(timesOut("IOThread add", () -> pool.add("extra")));
        times.add(timesOut("IOThread remove", () -> pool.remove("spare")));
        times.add(timesOut("detach", () -> hotplug.detach("d0", TIMEOUT)));
        times.add(timesOut("move", () -> hotplug.move("d2", IOThreadChoice.named("indep_iothread_1"))));
        times.add(timesOut("IOThread list", pool::list));
        times.add(timesOut("host threads", vm::hostThreads));
        LOG.info("SIGSTOP: {} calls timed out after {} ms (timeout {} ms)", times.size(), times, TIMEOUT.toMillis());

        signal("CONT");
        // the next call gets its own reply, not a late one meant for a call that timed out
        assertEquals("prelaunch", vm.monitorCommand("query-status", null).path("status").asText());
        long t0 = System.nanoTime();
        awaitAgreement("QEMU carried out the queued commands and hvspi undid or finished them");
        LOG.info("SIGSTOP: hvspi and QEMU agree {} ms after SIGCONT",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        assertEquals(List.of(), hotplug.list().stream().map(BlockDevice::id).toList(),
                "d1's attach was undone, d0's detach and d2's (now detach) unplug completed");
        assertEquals(List.of("indep_iothread_0", "indep_iothread_1"),
                pool.list().stream().map(IOThreadInfo::id).toList(),
                "the timed-out add was undone, the timed-out removal recorded");

        // the client works again, and the ids the failed calls held are free
        hotplug.attach(disk("d1", IOThreadChoice.byPolicy()));
        pool.add("extra");
        hotplug.attach(disk("d3", IOThreadChoice.named("extra")));
        hotplug.detach("d1");
        awaitAgreement("after recovery");
        assertEquals(VmState.PAUSED, vm.state());
    }

    @Test
    void aDetachEndsWithinItsOwnTimeoutThoughTheCommandTimeoutIsLonger() {
        host = new DefaultHostContext(tmp.resolve("run"), Duration.ofSeconds(5), Map.of());
        vm = (QemuHypervisor) new QemuHypervisorFactory().create(TestVms.spec("hang-own", 1, IOThreadPolicy.FIRST),
                host);
        vm.start();
        qemu = ProcessHandle.of(host.stateStore().load("hang-own").orElseThrow().pid()).orElseThrow();
        vm.requireHotplug().attach(disk("d0", IOThreadChoice.byPolicy()));
        signal("STOP");
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                () -> vm.requireHotplug().detach("d0", Duration.ofMillis(300)));
        // the detach's own 300 ms fired, not the 5 s command timeout
        assertTimedOutWithin(Duration.ofMillis(300), e, "detach(300 ms)");
        signal("CONT");
        awaitAgreement("the late device_del completed the detach");
        assertEquals(List.of(), vm.requireHotplug().list());
    }

    /**
     * A NIC attach QEMU does not answer in time: its id and port stay held (a second attach of
     * the id is a duplicate, not a second device on the same port); after SIGCONT QEMU adds it
     * late and hvspi removes device, netdev and the tap it made, and frees id and port.
     */
    @Test
    void aNicAttachThatTimesOutHoldsItsIdUntilQemuAnswersAndIsThenUndone() {
        Assumptions.assumeTrue(Path.of("/dev/net/tun").toFile().canWrite(), "needs /dev/net/tun (root)");
        start("hang-nic");
        NetworkHotplug net = vm.requireNetworkHotplug();
        String tap = "hvth" + Long.toHexString(System.nanoTime() & 0xffffffL);
        try {
            signal("STOP");
            timesOut("NIC attach", () -> net.attach(NetDeviceSpec.of("n1", NetBackend.newTap(tap))));
            RequestRejectedException held = assertThrows(RequestRejectedException.class,
                    () -> net.attach(NetDeviceSpec.of("n1", NetBackend.newTap(tap + "b"))));
            assertEquals(RequestRejectedException.Reason.DUPLICATE_ID, held.reason(), held.getMessage());
            signal("CONT");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (peripherals().contains("n1") || HostTaps.exists(tap) || infoNetwork().contains("n1")) {
                assertTrue(System.nanoTime() < deadline, "the late NIC is still there: " + peripherals() + ", tap "
                        + tap + " exists: " + HostTaps.exists(tap) + ", " + infoNetwork());
                LockSupport.parkNanos(20_000_000);
            }
            // the id and the port are free: the same attach now works, on a port QEMU accepts
            awaitTrue(() -> attached(net, NetDeviceSpec.of("n1", NetBackend.newTap(tap))), deadline, "id n1 freed");
            assertEquals(List.of("n1"), net.list().stream().map(NetDevice::id).toList());
            assertTrue(peripherals().contains("n1"));
        } finally {
            HostTaps.removeQuietly(tap + "b");
        }
    }

    private boolean attached(NetworkHotplug net, NetDeviceSpec spec) {
        try {
            net.attach(spec);
            return true;
        } catch (RequestRejectedException e) {
            if (e.reason() != RequestRejectedException.Reason.DUPLICATE_ID) {
                throw e;
            }
            return false; // the undo's last step (the intent's end) may still be running
        }
    }

    private static void awaitTrue(java.util.function.BooleanSupplier condition, long deadline, String what) {
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, what);
            LockSupport.parkNanos(20_000_000);
        }
    }

    private List<String> peripherals() {
        List<String> ids = new ArrayList<>();
        vm.monitorCommand("qom-list", QmpClient.args().put("path", "/machine/peripheral"))
                .forEach(c -> ids.add(c.path("name").asText()));
        return ids;
    }

    private String infoNetwork() {
        return vm.monitorCommand("human-monitor-command", QmpClient.args().put("command-line", "info network"))
                .asText();
    }

    @Test
    void stopKillsAStoppedQemuWithinItsTimeouts() {
        start("hang-stop");
        VmRecord record = host.stateStore().load("hang-stop").orElseThrow();
        signal("STOP");
        long t0 = System.nanoTime();
        vm.stop();
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        LOG.info("SIGSTOP: stop() of a stopped QEMU took {} ms (timeout {} ms)", ms, TIMEOUT.toMillis());
        assertFalse(qemu.isAlive());
        assertFalse(Files.exists(record.runtimeDir()));
        qemu = null;
        vm = null;
    }

    /** Polls until QEMU's devices, block nodes and IOThreads equal hvspi's accounting and state file. */
    private void awaitAgreement(String what) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        String last = "";
        while (System.nanoTime() < deadline) {
            last = disagreement();
            if (last.isEmpty()) {
                return;
            }
            LockSupport.parkNanos(5_000_000);
        }
        throw new AssertionError(what + ": " + last);
    }

    private String disagreement() {
        QemuHypervisor.Accounting books = vm.accounting();
        QemuState saved = TestVms.durable(host.stateStore().load(vm.vmId()).orElseThrow());
        Map<String, String> qemuDevices = new TreeMap<>();
        for (JsonNode child : vm.monitorCommand("qom-list", QmpClient.args().put("path", "/machine/peripheral"))) {
            String id = child.path("name").asText();
            if (child.path("type").asText().startsWith("child<virtio-blk-pci")) {
                String thread;
                try {
                    thread = vm.monitorCommand("qom-get", QmpClient.args().put("path", "/machine/peripheral/" + id)
                            .put("property", "iothread")).asText();
                } catch (VmmException e) {
                    // a late unplug completed between qom-list and qom-get: look again
                    return "device " + id + " went away while it was read: " + e.getMessage();
                }
                qemuDevices.put(id, thread.substring(thread.lastIndexOf('/') + 1));
            }
        }
        Map<String, String> ours = new TreeMap<>();
        books.devices().forEach(d -> ours.put(d.id(), String.join(",", d.ioThreads())));
        Set<String> qemuNodes = new TreeSet<>();
        for (JsonNode n : vm.monitorCommand("query-named-block-nodes", QmpClient.args().put("flat", true))) {
            if (n.path("node-name").asText().startsWith("hvspi-node")) {
                qemuNodes.add(n.path("node-name").asText());
            }
        }
        Set<String> ourNodes = new TreeSet<>(books.devices().stream().map(DeviceState::nodeName).toList());
        Set<String> qemuThreads = new TreeSet<>();
        vm.monitorCommand("query-iothreads", null).forEach(t -> qemuThreads.add(t.path("id").asText()));
        Set<String> ourThreads = new TreeSet<>(books.ioThreads().stream().map(QemuState.IOThreadState::id).toList());
        List<String> problems = new ArrayList<>();
        if (!qemuDevices.equals(ours)) {
            problems.add("devices: QEMU " + qemuDevices + ", hvspi " + ours);
        }
        if (!qemuNodes.equals(ourNodes)) {
            problems.add("block nodes: QEMU " + qemuNodes + ", hvspi " + ourNodes);
        }
        if (!qemuThreads.equals(ourThreads)) {
            problems.add("IOThreads: QEMU " + qemuThreads + ", hvspi " + ourThreads);
        }
        if (!books.reservations().isEmpty() || !books.inFlight().isEmpty()) {
            problems.add("reserved: " + books.reservations() + " " + books.inFlight());
        }
        if (!saved.devices().equals(books.devices()) || !saved.ioThreads().equals(books.ioThreads())) {
            problems.add("state file: " + saved.devices() + " " + saved.ioThreads());
        }
        if (books.devices().stream().anyMatch(DeviceState::unplugging)) {
            problems.add("unplug pending: " + books.devices());
        }
        return String.join("; ", problems);
    }
}
