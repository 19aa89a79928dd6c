package io.hvspi.plugin.qemu.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The QMP client against a scripted server: the failure modes real QEMU does not produce on demand. */
class QmpClientTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    private FakeQmpServer server;
    private int threadsBefore;

    private FakeQmpServer server(String greeting) {
        server = new FakeQmpServer(dir.resolve("qmp.sock"), greeting);
        return server;
    }

    @BeforeEach
    void countThreads() {
        threadsBefore = QmpThreads.count();
    }

    /** Whatever the peer did, the client's reader, subscriber and late-reply threads end with the connection. */
    @AfterEach
    void closeServerAndLeaveNoThreads() {
        if (server != null) {
            server.close();
        }
        QmpThreads.awaitAtMost(threadsBefore, "after the connection ended");
    }

    @Test
    void connectChecksTheGreetingAndNegotiatesCapabilitiesFirst() {
        server(FakeQmpServer.GREETING_7_2).reply("query-status",
                FakeQmpServer.JSON.createObjectNode().put("status", "prelaunch"));
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT)) {
            assertEquals(new QemuVersion(7, 2, 22), qmp.greeting().version());
            assertEquals("prelaunch", qmp.execute("query-status").path("status").asText());
            List<JsonNode> requests = server.requests();
            assertEquals("qmp_capabilities", requests.get(0).path("execute").asText());
            assertFalse(requests.get(0).has("arguments"), "no optional capability (oob) is enabled");
            assertTrue(requests.get(0).path("id").asText().startsWith("hvspi-"), "the barrier against stale replies");
            // QEMU reads its monitor a byte per main-loop turn: an id on every command costs each one
            assertFalse(requests.get(1).has("id"), "later commands are matched by order: " + requests.get(1));
        }
    }

    @Test
    void aSlowRoundTripSinkDoesNotHoldUpTheReply() throws Exception {
        server(FakeQmpServer.GREETING_7_2).refuseUnknown().reply("query-status",
                FakeQmpServer.JSON.createObjectNode().put("status", "running"));
        LinkedBlockingQueue<String> entered = new LinkedBlockingQueue<>();
        CountDownLatch releaseSink = new CountDownLatch(1);
        LinkedBlockingQueue<String> recorded = new LinkedBlockingQueue<>();
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT)) {
            // installed right after connect: the capabilities' round trip went to the sink in place when its
            // reply came (none), even though the reader reports it after connect() has returned
            qmp.onRoundTrip((command, took, ok) -> {
                entered.add(command);
                try {
                    // an embedder's metrics registry that stalls: the caller must have its reply already
                    releaseSink.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                recorded.add(command + " " + ok + " " + !took.isNegative());
            });
            // the reply came while the sink still blocks the reader: the sink runs after the hand-over
            assertEquals("running", qmp.execute("query-status", null, Duration.ofSeconds(3)).path("status").asText());
            assertEquals("query-status", entered.poll(5, TimeUnit.SECONDS), "the sink hears of the round trip");
            releaseSink.countDown();
            assertEquals("query-status true true", recorded.poll(5, TimeUnit.SECONDS));
            VmmException refused = assertThrows(VmmException.class, () -> qmp.execute("no-such-command"));
            assertEquals("CommandNotFound", refused.errorClass());
            assertEquals("no-such-command false true", recorded.poll(5, TimeUnit.SECONDS));
            assertEquals("no-such-command", entered.poll(), "reported once each, nothing else");
            assertTrue(entered.isEmpty(), entered.toString());
        }
    }

    /**
     * The sink is reported to after the caller has its reply; the one reported to is the one in place when
     * the reply came. Read after the hand-over, a sink installed right after connect() heard the capabilities'
     * round trip in 40 of 300 repetitions under CPU load (the race a CI run found).
     */
    @RepeatedTest(100)
    void aSinkInstalledAfterConnectHearsOnlyTheCommandsAfterIt() throws Exception {
        server(FakeQmpServer.GREETING_7_2).reply("query-status",
                FakeQmpServer.JSON.createObjectNode().put("status", "running"));
        LinkedBlockingQueue<String> heard = new LinkedBlockingQueue<>();
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT)) {
            qmp.onRoundTrip((command, took, ok) -> heard.add(command));
            qmp.execute("query-status");
            assertEquals("query-status", heard.poll(5, TimeUnit.SECONDS));
        }
    }

    /** A script that answers only once {@code latch} opens, as QEMU answers only once its machine is set up. */
    private static FakeQmpServer.Script after(CountDownLatch latch, FakeQmpServer.Script then) {
        return (req, c) -> {
            try {
                latch.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            then.on(req, c);
        };
    }

    /** What a start does while QEMU sets its machine up: QEMU greets at once, but answers only later. */
    @Test
    void openReturnsBeforeTheNegotiationIsAnsweredAndCommandsQueueBehindIt() throws Exception {
        CountDownLatch machineReady = new CountDownLatch(1);
        server(FakeQmpServer.GREETING_7_2).on("qmp_capabilities",
                after(machineReady, (req, c) -> c.reply(req, FakeQmpServer.JSON.createObjectNode())))
                .reply("query-status", FakeQmpServer.JSON.createObjectNode().put("status", "prelaunch"));
        try (QmpClient qmp = QmpClient.open(server.socket(), TIMEOUT)) {
            assertEquals(new QemuVersion(7, 2, 22), qmp.greeting().version());
            QmpClient.Call status = qmp.submit("query-status", null);
            assertEquals(2, qmp.pendingCount(), "the negotiation and the command behind it are unanswered");
            machineReady.countDown();
            assertTrue(qmp.await(qmp.negotiation()).isEmpty());
            assertEquals("prelaunch", qmp.await(status).path("status").asText());
            assertEquals(List.of("qmp_capabilities", "query-status"),
                    server.requests().stream().map(r -> r.path("execute").asText()).toList());
        }
    }

    @Test
    void aRefusedNegotiationEndsTheConnectionAndFailsWhatQueuedBehindIt() throws Exception {
        CountDownLatch queued = new CountDownLatch(1);
        server(FakeQmpServer.GREETING_7_2).on("qmp_capabilities",
                after(queued, (req, c) -> c.error(req, "GenericError", "Capability negotiation is already complete")))
                .reply("query-status", FakeQmpServer.JSON.createObjectNode().put("status", "running"));
        try (QmpClient qmp = QmpClient.open(server.socket(), TIMEOUT)) {
            QmpClient.Call status = qmp.submit("query-status", null);
            queued.countDown();
            VmmException refused = assertThrows(VmmException.class, () -> qmp.await(qmp.negotiation()));
            assertEquals("GenericError", refused.errorClass());
            // the server answers query-status, but an unnegotiated QEMU would have refused it: its answer is not taken
            VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> qmp.await(status));
            assertEquals(Reason.PROTOCOL_ERROR, e.reason());
            assertTrue(e.getMessage().contains("refused qmp_capabilities: qmp_capabilities failed: GenericError:"
                    + " Capability negotiation is already complete"), e.getMessage());
            assertFalse(qmp.isConnected());
        }
        // connect() reports the refusal itself, as before
        server.close();
        server(FakeQmpServer.GREETING_7_2).on("qmp_capabilities",
                (req, c) -> c.error(req, "GenericError", "Capability negotiation is already complete"));
        VmmException e = assertThrows(VmmException.class, () -> QmpClient.connect(server.socket(), TIMEOUT));
        assertEquals("qmp_capabilities", e.command());
    }

    /**
     * A reply already read when the connection ends (here a close run by the event before it, on the
     * reader; under a signal, a write that failed because QEMU quit) belongs to a caller that has been
     * failed: it is dropped without the warning meant for a reply to nothing.
     */
    @Test
    void aReplyReadAfterTheConnectionEndedIsDroppedQuietly() throws Exception {
        server(FakeQmpServer.GREETING_7_2).on("query-status", (req, c) -> c.raw(
                "{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 0}}\n"
                        + "{\"return\": {\"status\": \"paused\"}}\n"));
        PrintStream saved = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT)) {
            CompletableFuture<Void> closed = qmp.nextEvent(e -> e.name().equals("STOP")).thenRun(qmp::close);
            VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                    () -> qmp.execute("query-status"));
            closed.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            assertEquals(Reason.EXITED, e.reason());
            QmpThreads.awaitAtMost(threadsBefore, "after the close"); // the reader has handled both lines
        } finally {
            System.setErr(saved);
        }
        assertEquals("", captured.toString(StandardCharsets.UTF_8));
    }

    @Test
    void aFirstMessageThatIsNotAGreetingIsAProtocolError() {
        server("{\"hello\": \"world\"}");
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                () -> QmpClient.connect(server.socket(), TIMEOUT));
        assertEquals(Reason.PROTOCOL_ERROR, e.reason());
        assertTrue(e.getMessage().contains("expected a QMP greeting"), e.getMessage());
    }

    @Test
    void aSilentServerTimesOutTheGreetingAndHintsAtAnotherClient() {
        server(null);
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                () -> QmpClient.connect(server.socket(), Duration.ofMillis(200)));
        assertEquals(Reason.TIMED_OUT, e.reason());
        assertTrue(e.getMessage().contains("another client"), e.getMessage());
    }

    @Test
    void nothingListeningIsExited() {
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                () -> QmpClient.connect(dir.resolve("nobody.sock"), TIMEOUT));
        assertEquals(Reason.EXITED, e.reason());
    }

    /** The cause a subscriber is told when the connection ends. */
    private static CompletableFuture<VmmUnavailableException> disconnectOf(QmpClient qmp) {
        CompletableFuture<VmmUnavailableException> cause = new CompletableFuture<>();
        qmp.subscribe(new QmpListener() {
            @Override
            public void onEvent(QmpEvent event) {}

            @Override
            public void onDisconnect(VmmUnavailableException e) {
                cause.complete(e);
            }
        });
        return cause;
    }

    @Test
    void garbageEndsTheConnectionWithAProtocolError() throws Exception {
        server(FakeQmpServer.GREETING_7_2).on("query-status", (req, c) -> {
            c.event("RESUME", QmpClient.args());
            c.line("this is not JSON");
        });
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT)) {
            CompletableFuture<VmmUnavailableException> told = disconnectOf(qmp);
            VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> qmp.execute("query-status"));
            assertEquals(Reason.PROTOCOL_ERROR, e.reason());
            assertTrue(e.getMessage().contains("this is not JSON"), e.getMessage());
            assertFalse(qmp.isConnected());
            assertEquals(Reason.PROTOCOL_ERROR, told.get(5, TimeUnit.SECONDS).reason());
            // later calls fail at once with the same cause
            assertEquals(Reason.PROTOCOL_ERROR,
                    assertThrows(VmmUnavailableException.class, () -> qmp.execute("query-version")).reason());
        }
    }

    @Test
    void aGarbageGreetingFailsTheConnect() {
        server("\u0000\u0001 SSH-2.0-OpenSSH_9.2");
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                () -> QmpClient.connect(server.socket(), TIMEOUT));
        assertEquals(Reason.PROTOCOL_ERROR, e.reason());
        assertTrue(e.getMessage().contains("not JSON"), e.getMessage());
    }

    @Test
    void truncatedJsonIsAProtocolError() throws Exception {
        server(FakeQmpServer.GREETING_7_2).on("query-status", (req, c) -> c.line("{\"return\": {\"status\": "));
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT)) {
            CompletableFuture<VmmUnavailableException> told = disconnectOf(qmp);
            VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> qmp.execute("query-status"));
            assertEquals(Reason.PROTOCOL_ERROR, e.reason());
            assertTrue(e.getMessage().contains("not JSON: {\"return\""), e.getMessage());
            assertEquals(Reason.PROTOCOL_ERROR, told.get(5, TimeUnit.SECONDS).reason());
        }
    }

    @Test
    void aJsonValueThatIsNotAQmpMessageIsAProtocolError() {
        server(FakeQmpServer.GREETING_7_2).on("query-status", (req, c) -> c.line("{\"hello\": 1}"));
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT)) {
            VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> qmp.execute("query-status"));
            assertEquals(Reason.PROTOCOL_ERROR, e.reason());
            assertTrue(e.getMessage().contains("neither a reply nor an event"), e.getMessage());
        }
    }

    @Test
    void aLineOverTheCapIsRefused() throws Exception {
        // no newline ever: without the cap the client would buffer for as long as the peer sends
        server(FakeQmpServer.GREETING_7_2).on("query-status", (req, c) -> c.raw("{\"return\": \"" + "x".repeat(5000)));
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT, 1024)) {
            CompletableFuture<VmmUnavailableException> told = disconnectOf(qmp);
            VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> qmp.execute("query-status"));
            assertEquals(Reason.PROTOCOL_ERROR, e.reason());
            assertTrue(e.getMessage().contains("longer than 1024 bytes"), e.getMessage());
            assertEquals(Reason.PROTOCOL_ERROR, told.get(5, TimeUnit.SECONDS).reason());
        }
    }

    @Test
    void aReplyWithAnIdThisClientNeverSentIsIgnored() {
        server(FakeQmpServer.GREETING_7_2).on("query-status", (req, c) -> {
            c.line("{\"return\": {\"status\": \"stale\"}, \"id\": \"not-ours\"}");
            c.reply(req, FakeQmpServer.JSON.createObjectNode().put("status", "running"));
        });
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT)) {
            assertEquals("running", qmp.execute("query-status").path("status").asText());
            assertTrue(qmp.isConnected());
            assertEquals(0, qmp.pendingCount());
        }
    }

    @Test
    void aReplyNobodyWaitsForIsIgnoredAndTheNextCommandGetsItsOwn() throws Exception {
        server(FakeQmpServer.GREETING_7_2)
                .on("query-status", (req, c) -> {
                    c.reply(req, FakeQmpServer.JSON.createObjectNode().put("status", "running"));
                    c.line("{\"return\": {\"status\": \"unasked\"}}");
                    c.event("MARK", FakeQmpServer.JSON.createObjectNode());
                })
                .reply("query-version", FakeQmpServer.JSON.getNodeFactory().textNode("version"));
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT)) {
            CompletableFuture<QmpEvent> mark = qmp.nextEvent(e -> e.name().equals("MARK"));
            assertEquals("running", qmp.execute("query-status").path("status").asText());
            // the reader takes lines in order: once it has the event, it has dropped the unasked reply before it
            // (while a command waits, an id-less reply would be taken as its own: QEMU sends none unasked)
            mark.get(5, TimeUnit.SECONDS);
            assertEquals("version", qmp.execute("query-version").asText());
        }
    }

    @Test
    void aReplyQemuOwedAnEarlierClientNeverAnswersThisOnesCommand() {
        // what QEMU does when a client is killed mid-command: the reply goes to the next client, even before
        // its greeting; CrossProcessFaultTest found a reattach told "no devices" by a stale {"return": {}}
        server(FakeQmpServer.GREETING_7_2).reply("query-status", FakeQmpServer.JSON.createObjectNode()
                .put("status", "running"));
        List<String> earlierIds;
        try (QmpClient earlier = QmpClient.connect(server.socket(), TIMEOUT)) {
            earlier.execute("query-status");
            earlier.execute("query-status");
            earlierIds = server.requests().stream().map(r -> r.path("id").asText()).toList();
        }
        server.close();
        String stale = "{\"return\": {}, \"id\": \"" + earlierIds.get(1) + "\"}\n"
                + "{\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": \"d1\"}, \"timestamp\": {\"seconds\": 1,"
                + " \"microseconds\": 0}}";
        // QEMU runs one command at a time: what it still owes an earlier client comes before its first reply here
        server(stale + "\n" + FakeQmpServer.GREETING_7_2).on("qmp_capabilities", (req, c) -> {
            for (String id : earlierIds) {
                c.line("{\"return\": {}, \"id\": \"" + id + "\"}");
            }
            c.line("{\"return\": {\"status\": \"a raw client's, without an id\"}}");
            c.reply(req, FakeQmpServer.JSON.createObjectNode());
        }).reply("query-status", FakeQmpServer.JSON.createObjectNode().put("status", "running"));
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT)) {
            assertEquals("running", qmp.execute("query-status").path("status").asText(),
                    "the first command gets its own reply, not one owed to the earlier client");
            assertEquals("running", qmp.execute("query-status").path("status").asText());
            assertTrue(qmp.isConnected());
            assertEquals(0, qmp.pendingCount());
            String barrier = server.requests().stream().filter(r -> r.has("id")).reduce((a, b) -> b).orElseThrow()
                    .path("id").asText();
            assertFalse(earlierIds.contains(barrier), "the barrier's id is never an earlier connection's: " + barrier);
        }
    }

    @Test
    void aConnectionClosedMidReplyFailsTheCallAsExitedAtOnce() {
        server(FakeQmpServer.GREETING_7_2).on("query-status", (req, c) -> {
            c.raw("{\"return\": {\"sta");
            c.close();
        });
        // a long timeout: the failure must come from the close, not from the clock
        try (QmpClient qmp = QmpClient.connect(server.socket(), Duration.ofMinutes(5))) {
            VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> qmp.execute("query-status"));
            assertEquals(Reason.EXITED, e.reason());
            assertTrue(e.getMessage().contains("in the middle of a message"), e.getMessage());
        }
    }

    @Test
    void silenceTimesOutTheCallAndItsLateReplyGoesToItNeverToALaterCall() throws Exception {
        CompletableFuture<JsonNode> silenced = new CompletableFuture<>();
        server(FakeQmpServer.GREETING_7_2)
                .on("query-status", (req, c) -> silenced.complete(req))
                .on("query-version", (req, c) -> {
                    // the late reply to the call that timed out comes first, then this call's own
                    c.reply(silenced.join(), FakeQmpServer.JSON.getNodeFactory().textNode("late status"));
                    c.reply(req, FakeQmpServer.JSON.getNodeFactory().textNode("version"));
                });
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT)) {
            QmpClient.Call status = qmp.submit("query-status", null);
            long t0 = System.nanoTime();
            VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                    () -> qmp.await(status, Duration.ofMillis(100)));
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(2), "within the timeout");
            assertEquals(Reason.TIMED_OUT, e.reason());
            assertTrue(e.getMessage().contains("query-status"), e.getMessage());
            assertTrue(qmp.isConnected(), "a timeout does not end the connection");
            assertEquals(1, qmp.pendingCount(), "the timed-out call waits for its late reply");
            CompletableFuture<JsonNode> late = new CompletableFuture<>();
            status.whenDone((reply, error) -> late.complete(reply));

            assertEquals("version", qmp.execute("query-version").asText());
            assertEquals("late status", late.get(5, TimeUnit.SECONDS).asText());
            assertEquals(0, qmp.pendingCount());
        }
    }

    @Test
    void aPeerThatStopsReadingFailsTheWriteWithinTheTimeoutAndEndsTheConnection() {
        CountDownLatch resume = new CountDownLatch(1);
        // QEMU under SIGSTOP: it reads nothing more, so hvspi's writes fill the socket buffer and would block
        server(FakeQmpServer.GREETING_7_2).on("stop", (req, c) -> {
            try {
                resume.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        try (QmpClient qmp = QmpClient.connect(server.socket(), Duration.ofMillis(300))) {
            QmpClient.Call stop = qmp.submit("stop", null);
            ObjectNode big = QmpClient.args().put("path", "/objects/x").put("property", "x")
                    .put("value", "x".repeat(16 << 20));
            long t0 = System.nanoTime();
            VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                    () -> qmp.execute("qom-set", big, Duration.ofMinutes(5)));
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertEquals(Reason.TIMED_OUT, e.reason(), e.getMessage());
            assertTrue(e.getMessage().contains("has not read"), e.getMessage());
            assertTrue(ms < 300 + 2_000, "the write gave up after " + ms + " ms");
            assertFalse(qmp.isConnected(), "half a command was written: the stream cannot be used again");
            assertEquals(Reason.TIMED_OUT, assertThrows(VmmUnavailableException.class, () -> qmp.await(stop)).reason());
        } finally {
            resume.countDown();
        }
    }

    @Test
    void qemuErrorClassAndTextAreKept() {
        server(FakeQmpServer.GREETING_7_2).on("device_del",
                (req, c) -> c.error(req, "DeviceNotFound", "Device 'd9' not found"));
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT)) {
            VmmException e = assertThrows(VmmException.class,
                    () -> qmp.execute("device_del", QmpClient.args().put("id", "d9")));
            assertEquals("DeviceNotFound", e.errorClass());
            assertEquals("Device 'd9' not found", e.vmmMessage());
            assertEquals("device_del", e.command());
        }
    }

    @Test
    void eventsReachSubscribersWhileACommandWaits() throws Exception {
        CountDownLatch replyNow = new CountDownLatch(1);
        server(FakeQmpServer.GREETING_7_2).on("device_del", (req, c) -> {
            c.event("DEVICE_DELETED", FakeQmpServer.JSON.createObjectNode().put("device", "d0"));
            try {
                replyNow.await(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            c.reply(req, FakeQmpServer.JSON.createObjectNode());
        });
        LinkedBlockingQueue<QmpEvent> seen = new LinkedBlockingQueue<>();
        CountDownLatch blockSlowOne = new CountDownLatch(1);
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT)) {
            qmp.subscribe(e -> {
                try {
                    blockSlowOne.await(); // a stuck subscriber must delay neither others nor replies
                } catch (InterruptedException ex) {
                    Thread.currentThread().interrupt();
                }
            });
            qmp.subscribe(seen::add);
            CompletableFuture<QmpEvent> deleted = qmp.nextEvent(e -> e.isDeviceDeleted("d0"));
            CompletableFuture<JsonNode> call = CompletableFuture.supplyAsync(
                    () -> qmp.execute("device_del", QmpClient.args().put("id", "d0")));
            QmpEvent event = seen.poll(5, TimeUnit.SECONDS);
            assertEquals("DEVICE_DELETED", event.name());
            assertEquals("d0", deleted.get(5, TimeUnit.SECONDS).data().path("device").asText());
            assertFalse(call.isDone(), "the command still waits for its reply");
            replyNow.countDown();
            assertEquals("{}", call.get(5, TimeUnit.SECONDS).toString());
        } finally {
            blockSlowOne.countDown();
        }
    }

    @Test
    void commandsFromManyThreadsAtOnceEachGetTheirOwnReply() throws Exception {
        // QEMU answers in the order it read the commands: each reply here echoes its command's argument
        server(FakeQmpServer.GREETING_7_2).on("echo", (req, c) -> c.reply(req, req.path("arguments").path("n")));
        int threads = 8;
        int each = 200;
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT);
             ExecutorService pool = Executors.newFixedThreadPool(threads)) {
            List<Future<Integer>> mismatches = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int base = t * each;
                mismatches.add(pool.submit(() -> {
                    int wrong = 0;
                    for (int i = 0; i < each; i += 2) {
                        // two in flight per thread at a time, as an attach pipelines blockdev-add and device_add
                        QmpClient.Call first = qmp.submit("echo", QmpClient.args().put("n", base + i));
                        QmpClient.Call second = qmp.submit("echo", QmpClient.args().put("n", base + i + 1));
                        wrong += qmp.await(first).asInt() == base + i ? 0 : 1;
                        wrong += qmp.await(second).asInt() == base + i + 1 ? 0 : 1;
                    }
                    return wrong;
                }));
            }
            for (Future<Integer> m : mismatches) {
                assertEquals(0, m.get(60, TimeUnit.SECONDS), "replies matched to the wrong commands");
            }
            assertEquals(0, qmp.pendingCount());
        }
    }

    @Test
    void theEndOfTheConnectionReachesEventWaitersAndSubscribers() throws Exception {
        server(FakeQmpServer.GREETING_7_2);
        CompletableFuture<VmmUnavailableException> disconnected = new CompletableFuture<>();
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT)) {
            qmp.subscribe(new QmpListener() {
                @Override
                public void onEvent(QmpEvent event) {}

                @Override
                public void onDisconnect(VmmUnavailableException cause) {
                    disconnected.complete(cause);
                }
            });
            CompletableFuture<QmpEvent> never = qmp.nextEvent(e -> false);
            server.conn().close();
            ExecutionException e = assertThrows(ExecutionException.class, () -> never.get(5, TimeUnit.SECONDS));
            assertEquals(Reason.EXITED, ((VmmUnavailableException) e.getCause()).reason());
            assertEquals(Reason.EXITED, disconnected.get(5, TimeUnit.SECONDS).reason());
        }
    }
}
