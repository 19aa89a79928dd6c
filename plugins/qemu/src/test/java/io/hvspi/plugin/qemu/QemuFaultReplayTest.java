package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.qemu.probe.RecordedReplies;
import io.hvspi.plugin.qemu.process.RuntimeLayout;
import io.hvspi.plugin.qemu.qmp.FakeQmpServer;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.state.DeviceState;
import io.hvspi.plugin.qemu.state.Intent;
import io.hvspi.plugin.qemu.state.IntentLog;
import io.hvspi.plugin.qemu.state.PendingIntents;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Faults at an exact point of an operation's QMP exchange, which killing real QEMU
 * hits only by chance: a scripted QMP server (host option {@code endpoint}) that
 * answers as QEMU 7.2 does, and closes the connection, or answers late, on the
 * command the test names. Each test pins a bug the fault suites found.
 */
class QemuFaultReplayTest {
    /** Room for every call meant to succeed on a busy host; the one timeout a test wants waits on a latch. */
    private static final Duration TIMEOUT = Duration.ofSeconds(2);

    @TempDir
    Path tmp;

    private FakeQmpServer qemu;
    private DefaultHostContext host;
    private QemuHypervisor vm;

    private QemuHypervisor start() {
        host = new DefaultHostContext(tmp.resolve("run"), TIMEOUT, Map.of("endpoint", qemu.socket().toString()));
        vm = (QemuHypervisor) new QemuHypervisorFactory().create(TestVms.spec("replay", 2, IOThreadPolicy.FIRST), host);
        vm.start();
        return vm;
    }

    @AfterEach
    void stop() {
        if (vm != null) {
            vm.stop();
        }
        if (qemu != null) {
            qemu.close();
        }
    }

    /** A guestless QEMU: the reset completes every pending unplug and reports it. */
    private void unplugOnReset(String deviceId) {
        qemu.on("system_reset", (req, c) -> {
            c.reply(req, QmpClient.args());
            c.event("DEVICE_DELETED", QmpClient.args().put("device", deviceId)
                    .put("path", "/machine/peripheral/" + deviceId));
        });
    }

    private QemuState saved() {
        return TestVms.durable(host.stateStore().load("replay").orElseThrow());
    }

    /** What a process reattaching now would settle: the record's intents and those logged after its last save. */
    private List<Intent> inFlight() {
        QemuState record = saved();
        VmRecord r = host.stateStore().load("replay").orElseThrow();
        return PendingIntents.merge(record.intents(),
                IntentLog.read(new RuntimeLayout(r.runtimeDir()).intentLog(), record.intentLog()).intents());
    }

    private static void await(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            LockSupport.parkNanos(1_000_000);
        }
    }

    /**
     * With an endpoint there is no process to signal: a quit QEMU does not answer proves nothing,
     * so stop fails in one line and keeps the record and runtime directory of a VM that may still
     * run; a later stop, once QEMU is gone, removes them.
     */
    @Test
    void anEndpointStopWhoseQuitIsNotAnsweredKeepsTheRecordAndALaterStopRetries() {
        qemu = RecordedReplies.server(tmp.resolve("q.sock"), RecordedReplies.QEMU_7_2);
        qemu.on("quit", (req, c) -> { }); // a hung QEMU: it reads quit and answers nothing
        start();
        io.hvspi.spi.VmState before = vm.state();
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, vm::stop);
        assertEquals(VmmUnavailableException.Reason.TIMED_OUT, e.reason());
        assertTrue(e.getMessage().startsWith("cannot stop VM 'replay' at endpoint " + qemu.socket() + ": "),
                e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), e.getMessage());
        assertTrue(host.stateStore().load("replay").isPresent(), "the record of a VM that may still run is kept");
        assertTrue(java.nio.file.Files.isDirectory(tmp.resolve("run/replay")));
        assertEquals(before, vm.state(), "not stopped: a later stop retries");

        qemu.close(); // QEMU goes away: its socket refuses connections, proof enough
        vm.stop();
        assertEquals(io.hvspi.spi.VmState.STOPPED, vm.state());
        assertTrue(host.stateStore().load("replay").isEmpty());
        assertTrue(!java.nio.file.Files.exists(tmp.resolve("run/replay")));
    }

    /**
     * A subscriber gets exactly one VMM_EXITED, last, after stop, whether QEMU's end of the
     * connection or stop's own close comes first. The QEMU here answers quit and keeps the
     * connection open (the order that lost the event: stop closed the client first, and the
     * subscription ended silently), answers and closes, or closes without answering.
     */
    @Test
    void aSubscriberGetsExactlyOneVmmExitedLastAfterStopWhoeverClosesFirst() throws Exception {
        for (int round = 0; round < 6; round++) {
            int mode = round % 3;
            qemu = RecordedReplies.server(tmp.resolve("q" + round + ".sock"), RecordedReplies.QEMU_7_2);
            qemu.on("quit", (req, c) -> {
                c.event("SHUTDOWN", QmpClient.args().put("guest", false).put("reason", "host-qmp-quit"));
                if (mode != 2) {
                    c.reply(req, QmpClient.args());
                }
                if (mode != 0) {
                    c.close();
                }
            });
            host = new DefaultHostContext(tmp.resolve("run" + round), TIMEOUT,
                    Map.of("endpoint", qemu.socket().toString()));
            vm = (QemuHypervisor) new QemuHypervisorFactory().create(TestVms.spec("replay", 2,
                    IOThreadPolicy.FIRST), host);
            vm.start();
            List<io.hvspi.spi.VmEvent> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
            CountDownLatch exited = new CountDownLatch(1);
            vm.subscribe(ev -> {
                seen.add(ev);
                if (ev.name().equals(io.hvspi.spi.VmEvent.VMM_EXITED)) {
                    exited.countDown();
                }
            });
            vm.stop();
            assertTrue(exited.await(5, TimeUnit.SECONDS), "round " + round + " (mode " + mode + "): no VMM_EXITED; "
                    + "saw " + seen);
            Thread.sleep(100); // a second one, or an event after it, would arrive meanwhile
            List<String> names = seen.stream().map(io.hvspi.spi.VmEvent::name).toList();
            assertEquals(1, names.stream().filter(io.hvspi.spi.VmEvent.VMM_EXITED::equals).count(),
                    "round " + round + ": " + names);
            assertEquals(io.hvspi.spi.VmEvent.VMM_EXITED, names.get(names.size() - 1), "round " + round + ": " + names);
            assertTrue(names.contains("SHUTDOWN"), "round " + round + ": " + names);
            assertTrue(host.stateStore().load("replay").isEmpty());
            qemu.close();
            qemu = null;
        }
    }

    @Test
    void qemuDyingBetweenAMovesUnplugAndReplugFailsWithExitedAndKeepsTheMoveAsAnIntent() {
        qemu = RecordedReplies.acceptsHotplug(RecordedReplies.server(tmp.resolve("q.sock"), RecordedReplies.QEMU_7_2));
        unplugOnReset("d0");
        AtomicInteger adds = new AtomicInteger();
        qemu.on("device_add", (req, c) -> {
            if (adds.incrementAndGet() == 1) {
                c.reply(req, QmpClient.args());
            } else {
                c.close(); // QEMU dies as the replug arrives
            }
        });
        start().requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend())
                .ioThread(IOThreadChoice.named("indep_iothread_0")).build());

        VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                () -> vm.requireHotplug().move("d0", IOThreadChoice.named("indep_iothread_1")));
        assertEquals(VmmUnavailableException.Reason.EXITED, e.reason(), "not a plain HvspiException: " + e);
        assertTrue(e.getMessage().contains("the next reattach plugs the device in again"), e.getMessage());
        // the disk is not forgotten: the record keeps it, with the move as an intent the next reattach settles
        assertEquals(List.of("d0"), saved().devices().stream().map(d -> d.id()).toList());
        assertEquals(List.of(Intent.Op.MOVE), inFlight().stream().map(Intent::op).toList());
        assertEquals(List.of("indep_iothread_1"), inFlight().get(0).target());
        QemuHypervisor.Accounting books = vm.accounting();
        assertEquals(saved().devices(), books.devices());
        assertEquals(Map.of(), books.reservations());
    }

    @Test
    void aDeviceDeletedEventForADeviceQemuStillHasIsAnEarlierInstancesAndChangesNothing() throws Exception {
        // CrossProcessFaultTest found it: a reattach plugged in again a disk whose move was cut between unplug and
        // replug, and the old instance's DEVICE_DELETED (QEMU stops listing a device before it reports it gone)
        // then dropped the new one from the records while QEMU had it
        qemu = RecordedReplies.acceptsHotplug(RecordedReplies.server(tmp.resolve("q.sock"), RecordedReplies.QEMU_7_2));
        qemu.on("qom-get", (req, c) -> {
            if (req.path("arguments").path("path").asText().equals("/machine/peripheral/d0")) {
                c.reply(req, QmpClient.JSON.getNodeFactory().textNode("virtio-blk-pci"));
            } else {
                c.error(req, "DeviceNotFound", "Device '" + req.path("arguments").path("path").asText()
                        + "' not found");
            }
        });
        start().requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());
        vm.requireHotplug().attach(BlockDeviceSpec.builder("d1", BlockBackend.nullBackend()).build());

        qemu.conn().event("DEVICE_DELETED", QmpClient.args().put("device", "d0").put("path", "/machine/peripheral/d0"));
        // QEMU really removed d1 (no command of hvspi asked): events are handled in order, so once d1 is gone
        // the event about d0 has been handled too
        qemu.conn().event("DEVICE_DELETED", QmpClient.args().put("device", "d1").put("path", "/machine/peripheral/d1"));
        await(() -> vm.accounting().devices().size() == 1, "d1 is dropped");
        assertEquals(List.of("d0"), vm.accounting().devices().stream().map(DeviceState::id).toList());
        assertEquals(List.of("d0"), saved().devices().stream().map(DeviceState::id).toList());
    }

    @Test
    void everyOperationLogsItsIntentBeforeItsFirstQmpCommandAndClearsItAfterItsLast() {
        qemu = RecordedReplies.acceptsHotplug(RecordedReplies.server(tmp.resolve("q.sock"), RecordedReplies.QEMU_7_2));
        RecordedReplies.iothreads(qemu, List.of("indep_iothread_0", "indep_iothread_1", "x1"));
        unplugOnReset("d0");
        Map<String, List<Intent.Op>> seen = new java.util.concurrent.ConcurrentHashMap<>();
        for (String command : List.of("blockdev-add", "device_del", "object-add", "object-del")) {
            qemu.on(command, (req, c) -> {
                seen.put(command, inFlight().stream().map(Intent::op).toList());
                c.reply(req, QmpClient.args());
            });
        }
        start().requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());
        assertEquals(List.of(), saved().intents(), "cleared after the attach");
        assertEquals(List.of(), inFlight(), "and the log's line is covered by the record");
        vm.requireIoThreads().add("x1");
        vm.requireIoThreads().remove("x1");
        vm.requireHotplug().detach("d0", TIMEOUT);
        assertEquals(List.of(Intent.Op.ATTACH), seen.get("blockdev-add"));
        assertEquals(List.of(Intent.Op.IOTHREAD_ADD), seen.get("object-add"));
        assertEquals(List.of(Intent.Op.IOTHREAD_REMOVE), seen.get("object-del"));
        assertTrue(saved().devices().isEmpty() && saved().intents().isEmpty(), saved().toString());
    }

    /**
     * A move logs its intent before {@code device_del}, and again, marked, once QEMU took it: a
     * reattach asks the unplug again only for a marked move (one cut off before QEMU took its
     * {@code device_del} may have sent none, and its disk must not be ejected).
     */
    @Test
    void aMoveMarksItsIntentOnceQemuTookItsUnplugAndClearsItAfterTheReplug() {
        qemu = RecordedReplies.acceptsHotplug(RecordedReplies.server(tmp.resolve("q.sock"), RecordedReplies.QEMU_7_2));
        RecordedReplies.iothreads(qemu, List.of("indep_iothread_0", "indep_iothread_1"));
        unplugOnReset("d0");
        Map<String, List<Intent>> seen = new java.util.concurrent.ConcurrentHashMap<>();
        AtomicInteger adds = new AtomicInteger();
        qemu.on("device_del", (req, c) -> {
            seen.put("device_del", inFlight());
            c.reply(req, QmpClient.args());
        });
        qemu.on("device_add", (req, c) -> {
            if (adds.incrementAndGet() == 2) {
                seen.put("replug", inFlight());
            }
            c.reply(req, QmpClient.args());
        });
        start().requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend())
                .ioThread(IOThreadChoice.named("indep_iothread_0")).build());
        vm.requireHotplug().move("d0", IOThreadChoice.named("indep_iothread_1"));

        Intent begun = seen.get("device_del").get(0);
        assertEquals(Intent.Op.MOVE, begun.op());
        assertTrue(!begun.unplugAsked(), "not marked before QEMU took the unplug: " + begun);
        assertEquals(List.of(begun.withUnplugAsked()), seen.get("replug"), "marked once QEMU took it");
        assertEquals(List.of(), inFlight(), "and cleared with the move");
        assertEquals(List.of("indep_iothread_1"), saved().devices().get(0).ioThreads());
        assertTrue(!saved().devices().get(0).unplugging());
    }

    @Test
    void anIOThreadAddQemuConfirmedReturnsEvenWhenQemuDiesBeforeTheThreadIdIsRead() {
        qemu = RecordedReplies.acceptsHotplug(RecordedReplies.server(tmp.resolve("q.sock"), RecordedReplies.QEMU_7_2));
        qemu.on("query-iothreads", (req, c) -> c.close());
        IOThreadInfo added = start().requireIoThreads().add("extra");
        assertEquals("extra", added.id());
        assertTrue(added.hostThreadId().isEmpty(), "unknown, not guessed");
        assertEquals(List.of("indep_iothread_0", "indep_iothread_1", "extra"),
                saved().ioThreads().stream().map(QemuState.IOThreadState::id).toList(),
                "the call's result and the record agree: QEMU created it");
    }

    @Test
    void aReplugQemuAnswersAfterTheMoveTimedOutIsRecordedWhereQemuPutTheDevice() throws Exception {
        qemu = RecordedReplies.acceptsHotplug(RecordedReplies.server(tmp.resolve("q.sock"), RecordedReplies.QEMU_7_2));
        RecordedReplies.iothreads(qemu, List.of("indep_iothread_0", "indep_iothread_1"));
        unplugOnReset("d0");
        CountDownLatch answer = new CountDownLatch(1);
        AtomicInteger adds = new AtomicInteger();
        qemu.on("device_add", (req, c) -> {
            if (adds.incrementAndGet() == 2) {
                try {
                    answer.await(10, TimeUnit.SECONDS); // QEMU hangs on the replug, and answers later
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            c.reply(req, QmpClient.args());
        });
        start().requireHotplug().attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend())
                .ioThread(IOThreadChoice.named("indep_iothread_0")).build());

        VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                () -> vm.requireHotplug().move("d0", IOThreadChoice.named("indep_iothread_1")));
        assertEquals(VmmUnavailableException.Reason.TIMED_OUT, e.reason());
        assertEquals(Map.of("indep_iothread_1", 1), vm.accounting().reservations(),
                "while QEMU has not answered, the new IOThread stays reserved");
        assertEquals(List.of("indep_iothread_0"), saved().devices().get(0).ioThreads());

        answer.countDown();
        await(() -> vm.accounting().reservations().isEmpty(), "the late reply is recorded");
        DeviceState d0 = saved().devices().get(0);
        assertEquals(List.of("indep_iothread_1"), d0.ioThreads(), "QEMU plugged it onto the new IOThread");
        assertEquals(Map.of("d0", List.of("indep_iothread_1")), vm.accounting().assignments());
        assertEquals(List.of("d0"), vm.requireIoThreads().list().get(1).devices());
    }
}
