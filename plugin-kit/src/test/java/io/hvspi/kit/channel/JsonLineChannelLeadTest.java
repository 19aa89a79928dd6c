package io.hvspi.kit.channel;

import static io.hvspi.kit.channel.ScriptedPeer.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Callers that read their own replies ({@link JsonLineChannel#await}): against a real Unix
 * socket peer, with the background reader stepping aside and coming back, several callers at
 * once, interrupts, timeouts and the peer's end.
 */
class JsonLineChannelLeadTest {
    private static final Duration LONG = Duration.ofSeconds(30);
    private static final Duration NO_HANG = Duration.ofSeconds(15);
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    /** Replies by id; each reply's handling thread is recorded. */
    private final Map<Integer, CompletableFuture<JsonNode>> replies = new ConcurrentHashMap<>();
    private final Map<Integer, Thread> handledOn = new ConcurrentHashMap<>();
    private final LinkedBlockingQueue<Thread> eventsOn = new LinkedBlockingQueue<>();
    private final CountDownLatch release = new CountDownLatch(1);
    private ScriptedPeer peer;
    private JsonLineChannel channel;

    @AfterEach
    void tearDown() throws Exception {
        release.countDown();
        if (channel != null) {
            channel.close();
        }
        if (peer != null) {
            peer.close();
        }
    }

    private JsonLineChannel connect(ScriptedPeer.Script script) throws IOException {
        peer = ScriptedPeer.start(dir, script);
        channel = JsonLineChannel.connect(peer.socket, JsonLineChannel.Options.of("the test peer", 64 * 1024, JSON),
                new JsonLineChannel.Handler() {
                    @Override
                    public void onMessage(ObjectNode message) {
                        if (message.has("event")) {
                            eventsOn.add(Thread.currentThread());
                            return;
                        }
                        int id = message.path("id").asInt();
                        handledOn.put(id, Thread.currentThread());
                        reply(id).complete(message);
                    }

                    @Override
                    public void onEnd(VmmUnavailableException cause, boolean byUs) {
                        replies.values().forEach(r -> r.completeExceptionally(cause));
                    }
                });
        return channel;
    }

    private CompletableFuture<JsonNode> reply(int id) {
        return replies.computeIfAbsent(id, k -> new CompletableFuture<>());
    }

    private JsonNode call(int id, Duration timeout) {
        CompletableFuture<JsonNode> reply = reply(id);
        channel.send(JSON.createObjectNode().put("id", id), LONG);
        return channel.await(reply, timeout, () -> new VmmUnavailableException(Reason.TIMED_OUT, "no reply " + id));
    }

    /** Answers every request with its id; {"emit":true} with an event instead. */
    private static void echo(BufferedReader in, OutputStream out) throws IOException {
        String line;
        while ((line = in.readLine()) != null) {
            JsonNode msg = JSON.readTree(line);
            write(out, msg.has("emit") ? "{\"event\":\"E\"}" : "{\"id\":" + msg.path("id").asInt() + "}");
        }
    }

    @Test
    void callersReadTheirOwnRepliesAndTheBackgroundReaderReadsEventsWhenNoneWaits() throws Exception {
        connect(JsonLineChannelLeadTest::echo);
        int calls = 50;
        // assertTimeoutPreemptively runs the calls in a thread of its own
        Thread me = assertTimeoutPreemptively(NO_HANG, () -> {
            for (int id = 1; id <= calls; id++) {
                assertEquals(id, call(id, LONG).path("id").asInt());
            }
            return Thread.currentThread();
        });
        long onCaller = handledOn.values().stream().filter(t -> t == me).count();
        // the first reply may beat the background reader's stepping aside, and a stalled test thread
        // lets it come back: most, not all; before callers led, none was read here
        assertTrue(onCaller > calls / 2, onCaller + " of " + calls + " replies read in the calling thread");

        // nobody waits now: the background reader comes back and reads what the peer sends
        channel.send(JSON.createObjectNode().put("emit", true), LONG);
        Thread reader = eventsOn.poll(NO_HANG.toMillis(), TimeUnit.MILLISECONDS);
        assertTrue(reader != null && reader.getName().startsWith("json-line-reader"),
                "the event was read by the background reader: " + reader);
    }

    @Test
    void callersWaitingAtOnceEachGetTheirReplyWhoeverReadsIt() throws Exception {
        // the second reply comes only after the first's caller has it and has gone: nobody reads for the second then
        CountDownLatch firstDone = new CountDownLatch(1);
        connect((in, out) -> {
            in.readLine();
            in.readLine();
            write(out, "{\"id\":1}");
            firstDone.await();
            write(out, "{\"id\":2}");
            release.await();
        });
        AtomicReference<JsonNode> second = new AtomicReference<>();
        Thread other = Thread.ofPlatform().start(() -> second.set(call(2, LONG)));
        assertTimeoutPreemptively(NO_HANG, () -> {
            assertEquals(1, call(1, LONG).path("id").asInt());
            firstDone.countDown();
            other.join();
        });
        // no reader was left for the second caller when the first went: it read its own reply
        assertEquals(2, second.get().path("id").asInt());
    }

    @Test
    void aTimedOutCallLeavesTheChannelUsableAndItsLateReplyIsHandled() throws Exception {
        CountDownLatch late = new CountDownLatch(1);
        connect((in, out) -> {
            in.readLine();
            late.await();
            write(out, "{\"id\":1}");
            echo(in, out);
        });
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                () -> call(1, Duration.ofMillis(200)));
        assertEquals("no reply 1", e.getMessage());
        late.countDown();
        assertTimeoutPreemptively(NO_HANG, () -> assertEquals(2, call(2, LONG).path("id").asInt()));
        assertTrue(reply(1).isDone(), "the late reply was read before the next one");
        assertTrue(channel.isOpen());
    }

    @Test
    void anInterruptedCallerKeepsWaitingForItsReplyAndKeepsItsInterrupt() throws Exception {
        CountDownLatch asked = new CountDownLatch(1);
        CountDownLatch interrupted = new CountDownLatch(1);
        connect((in, out) -> {
            in.readLine();
            asked.countDown();
            interrupted.await();
            write(out, "{\"id\":1}");
            release.await();
        });
        AtomicReference<JsonNode> got = new AtomicReference<>();
        AtomicBoolean flagAfter = new AtomicBoolean();
        Thread caller = Thread.ofPlatform().start(() -> {
            got.set(call(1, LONG));
            flagAfter.set(Thread.currentThread().isInterrupted());
        });
        assertTimeoutPreemptively(NO_HANG, () -> {
            asked.await();
            caller.interrupt();
            interrupted.countDown();
            caller.join();
        });
        assertEquals(1, got.get().path("id").asInt());
        assertTrue(flagAfter.get(), "the interrupt status is kept");
        assertTrue(channel.isOpen(), "an interrupt in the selector does not close the socket");
    }

    @Test
    void readUntilEndsOnAnInterruptAndKeepsIt() throws Exception {
        connect((in, out) -> release.await());
        CompletableFuture<Void> never = new CompletableFuture<>();
        AtomicBoolean flagAfter = new AtomicBoolean();
        assertTimeoutPreemptively(NO_HANG, () -> {
            Thread waiter = readUntilInAThread(never, flagAfter);
            waiter.interrupt();
            waiter.join();
        });
        assertTrue(flagAfter.get());
        assertFalse(never.isDone());
    }

    @Test
    void readUntilReturnsWhenAnotherThreadCompletesTheOutcome() throws Exception {
        connect((in, out) -> release.await());
        CompletableFuture<Void> outcome = new CompletableFuture<>();
        AtomicBoolean flagAfter = new AtomicBoolean();
        assertTimeoutPreemptively(NO_HANG, () -> {
            Thread waiter = readUntilInAThread(outcome, flagAfter);
            outcome.complete(null);
            waiter.join();
        });
        assertFalse(flagAfter.get());
    }

    /** A thread in {@code channel.readUntil(outcome, LONG)}, or about to be; its interrupt after, {@code flagAfter}. */
    private Thread readUntilInAThread(CompletableFuture<?> outcome, AtomicBoolean flagAfter)
            throws InterruptedException {
        CountDownLatch reading = new CountDownLatch(1);
        Thread waiter = Thread.ofPlatform().start(() -> {
            reading.countDown();
            channel.readUntil(outcome, LONG);
            flagAfter.set(Thread.currentThread().isInterrupted());
        });
        reading.await();
        return waiter;
    }

    @Test
    void thePeersEndFailsEveryWaitingCallerAtOnce() throws Exception {
        connect((in, out) -> {
            in.readLine();
            in.readLine();
            // and exits with both unanswered
        });
        List<Throwable> failures = new ArrayList<>();
        Thread other = Thread.ofPlatform().start(() -> {
            try {
                call(2, LONG);
            } catch (VmmUnavailableException e) {
                synchronized (failures) {
                    failures.add(e);
                }
            }
        });
        VmmUnavailableException mine = assertTimeoutPreemptively(NO_HANG,
                () -> assertThrows(VmmUnavailableException.class, () -> call(1, LONG)));
        assertTimeoutPreemptively(NO_HANG, () -> other.join());
        assertEquals(Reason.EXITED, mine.reason());
        synchronized (failures) {
            assertEquals(1, failures.size());
            assertSame(Reason.EXITED, ((VmmUnavailableException) failures.get(0)).reason());
        }
        assertFalse(channel.isOpen());
    }
}
