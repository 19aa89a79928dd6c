package io.hvspi.kit.channel;

import static io.hvspi.kit.channel.ScriptedPeer.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The channel against a real Unix socket peer: messages both ways, and every way the peer can fail it. */
class JsonLineChannelTest {
    private static final Duration SHORT = Duration.ofMillis(300);
    private static final Duration NO_HANG = Duration.ofSeconds(20);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CAP = 64 * 1024;

    @TempDir
    Path dir;

    private final CountDownLatch release = new CountDownLatch(1);
    private final LinkedBlockingQueue<ObjectNode> received = new LinkedBlockingQueue<>();
    private final CompletableFuture<VmmUnavailableException> end = new CompletableFuture<>();
    private final AtomicBoolean endedByUs = new AtomicBoolean();
    private ScriptedPeer peer;

    @AfterEach
    void tearDown() throws Exception {
        release.countDown();
        if (peer != null) {
            peer.close();
        }
    }

    private JsonLineChannel connect(ScriptedPeer.Script script) throws IOException {
        peer = ScriptedPeer.start(dir, script);
        return JsonLineChannel.connect(peer.socket, JsonLineChannel.Options.of("the test peer", CAP, JSON),
                new JsonLineChannel.Handler() {
                    @Override
                    public void onMessage(ObjectNode message) {
                        if (message.has("bad")) {
                            throw new JsonLineChannel.ProtocolViolation("the test peer sent " + message);
                        }
                        received.add(message);
                    }

                    @Override
                    public void onEnd(VmmUnavailableException cause, boolean byUs) {
                        endedByUs.set(byUs);
                        end.complete(cause);
                    }
                });
    }

    private VmmUnavailableException awaitEnd() {
        return assertTimeoutPreemptively(NO_HANG, () -> end.get());
    }

    @Test
    void aMessageIsTheLineTheMapperWritesForIt() throws Exception {
        ObjectNode message = JSON.createObjectNode().put("execute", "device_add").put("id", "hvspi-7");
        ObjectNode args = message.putObject("arguments").put("driver", "virtio-blk-pci").put("id", "d\u00e9\"\\\n0")
                .put("num-queues", 4).put("size", 1L << 40).put("ratio", 0.25).put("share-rw", true)
                .put("big", new java.math.BigInteger("123456789012345678901234567890"))
                .put("exact", new java.math.BigDecimal("1.50")).putNull("none");
        args.putArray("iothread-vq-mapping").addObject().put("iothread", "a").putArray("vqs").add(0).add(2);
        args.putArray("empty");
        args.putObject("cache").put("direct", false);
        assertEquals(JSON.writeValueAsString(message) + "\n",
                new String(JsonLineChannel.encode(JSON.getFactory(), message), StandardCharsets.UTF_8));
        assertEquals("{}\n", new String(JsonLineChannel.encode(JSON.getFactory(), JSON.createObjectNode()),
                StandardCharsets.UTF_8));
        assertThrows(IllegalArgumentException.class, () -> JsonLineChannel.encode(JSON.getFactory(),
                JSON.createObjectNode().putPOJO("x", new Object())));
    }

    @Test
    void echoesMessagesBothWaysSkippingBlankLines() throws Exception {
        try (JsonLineChannel ch = connect((in, out) -> {
            write(out, "");
            write(out, "{\"hello\":1}\r");
            String line;
            while ((line = in.readLine()) != null) {
                write(out, line);
            }
        })) {
            assertEquals(1, received.poll(10, TimeUnit.SECONDS).path("hello").asInt());
            ch.send(JSON.createObjectNode().put("n", 2), SHORT);
            assertEquals(2, received.poll(10, TimeUnit.SECONDS).path("n").asInt());
            assertTrue(ch.isOpen());
        }
        assertEquals(Reason.EXITED, awaitEnd().reason());
        assertTrue(endedByUs.get(), "close() is reported as ours");
    }

    @Test
    void aPeerThatStopsReadingEndsTheChannelAfterTheWriteTimeout() throws Exception {
        JsonLineChannel ch = connect((in, out) -> release.await());
        ObjectNode big = JSON.createObjectNode().put("fill", "x".repeat(CAP - 100));
        VmmUnavailableException e = assertTimeoutPreemptively(NO_HANG, () -> assertThrows(
                VmmUnavailableException.class, () -> {
                    while (true) {
                        ch.send(big, SHORT); // the socket buffers take a few lines; then nothing moves
                    }
                }));
        assertEquals(Reason.TIMED_OUT, e.reason());
        assertTrue(e.getMessage().contains("write timeout") && e.getMessage().contains("300 ms"), e.getMessage());
        assertFalse(ch.isOpen());
        assertEquals(Reason.TIMED_OUT, awaitEnd().reason());
        assertFalse(endedByUs.get());
        assertEquals(Reason.TIMED_OUT, assertThrows(VmmUnavailableException.class,
                () -> ch.send(JSON.createObjectNode(), SHORT)).reason(), "later sends fail at once");
    }

    @Test
    void anInterruptedSenderWritesKeepsTheChannelAndItsInterrupt() throws Exception {
        try (JsonLineChannel ch = connect((in, out) -> {
            String line;
            while ((line = in.readLine()) != null) {
                write(out, line);
            }
        })) {
            AtomicBoolean flagAfter = new AtomicBoolean();
            Thread sender = Thread.ofPlatform().start(() -> {
                Thread.currentThread().interrupt();
                ch.send(JSON.createObjectNode().put("n", 1), SHORT);
                flagAfter.set(Thread.currentThread().isInterrupted());
            });
            sender.join();
            assertTrue(flagAfter.get(), "the interrupt status is kept");
            assertEquals(1, received.poll(10, TimeUnit.SECONDS).path("n").asInt());
            assertTrue(ch.isOpen(), "a blocking channel would have closed itself here");
            ch.send(JSON.createObjectNode().put("n", 2), SHORT);
            assertEquals(2, received.poll(10, TimeUnit.SECONDS).path("n").asInt());
        }
    }

    @Test
    void aPeerThatDiesEndsTheChannelAsExited() throws Exception {
        JsonLineChannel ch = connect((in, out) -> in.readLine());
        ch.send(JSON.createObjectNode(), SHORT);
        VmmUnavailableException e = awaitEnd();
        assertEquals(Reason.EXITED, e.reason());
        assertTrue(e.getMessage().contains("the test peer closed the connection"), e.getMessage());
        assertFalse(endedByUs.get());
        assertEquals(Reason.EXITED, assertThrows(VmmUnavailableException.class,
                () -> ch.send(JSON.createObjectNode(), SHORT)).reason());
    }

    @Test
    void aLineOverTheCapIsAProtocolError() throws Exception {
        connect((in, out) -> {
            write(out, "\"" + "x".repeat(CAP) + "\"");
            release.await();
        });
        VmmUnavailableException e = awaitEnd();
        assertEquals(Reason.PROTOCOL_ERROR, e.reason());
        assertTrue(e.getMessage().contains("longer than " + CAP + " bytes"), e.getMessage());
    }

    @Test
    void aLineThatIsNotAJsonObjectIsAProtocolError() throws Exception {
        connect((in, out) -> {
            write(out, "[1,2]");
            release.await();
        });
        VmmUnavailableException e = awaitEnd();
        assertEquals(Reason.PROTOCOL_ERROR, e.reason());
        assertTrue(e.getMessage().contains("not a JSON object: [1,2]"), e.getMessage());
    }

    @Test
    void aLineThatIsNotJsonIsAProtocolErrorQuotingIt() throws Exception {
        connect((in, out) -> {
            write(out, "{\"return\": {");
            release.await();
        });
        VmmUnavailableException e = awaitEnd();
        assertEquals(Reason.PROTOCOL_ERROR, e.reason());
        assertTrue(e.getMessage().contains("not JSON: {\"return\""), e.getMessage());
    }

    @Test
    void aHandlerRefusingAMessageIsAProtocolError() throws Exception {
        connect((in, out) -> {
            write(out, "{\"bad\":true}");
            release.await();
        });
        assertEquals(Reason.PROTOCOL_ERROR, awaitEnd().reason());
    }

    @Test
    void aMessageOverTheCapIsRefusedAndTheChannelStaysUsable() throws Exception {
        try (JsonLineChannel ch = connect((in, out) -> release.await())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ch.send(JSON.createObjectNode().put("fill", "x".repeat(CAP)), SHORT));
            assertTrue(e.getMessage().contains("line limit"), e.getMessage());
            assertTrue(ch.isOpen());
        }
    }

    /**
     * A peer that accepts nothing (a SIGSTOPped QEMU) with its backlog full: a blocking connect to a
     * Unix socket waited for a free slot, for ever (hvctl vm stop of a stopped QEMU hung in it until
     * its 30 s bound). The connect is bounded now, and TIMED_OUT, not EXITED: something listens.
     */
    @Test
    void aPeerWhoseBacklogIsFullIsTimedOutWithinTheConnectTimeout() throws IOException {
        Path socket = dir.resolve("full.sock");
        try (java.nio.channels.ServerSocketChannel server = java.nio.channels.ServerSocketChannel.open(
                java.net.StandardProtocolFamily.UNIX)) {
            server.bind(java.net.UnixDomainSocketAddress.of(socket), 1);
            java.util.List<java.nio.channels.SocketChannel> queued = new java.util.ArrayList<>();
            try {
                while (true) { // fill the backlog: a non-blocking connect fails with EAGAIN once it is full
                    java.nio.channels.SocketChannel c = java.nio.channels.SocketChannel.open(
                            java.net.StandardProtocolFamily.UNIX);
                    c.configureBlocking(false);
                    try {
                        c.connect(java.net.UnixDomainSocketAddress.of(socket));
                        queued.add(c);
                    } catch (IOException full) {
                        c.close();
                        break;
                    }
                    assertTrue(queued.size() < 1000, "the backlog never filled");
                }
                VmmUnavailableException e = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> assertThrows(
                        VmmUnavailableException.class, () -> JsonLineChannel.connect(socket,
                                JsonLineChannel.Options.of("the stopped peer", CAP, JSON), new JsonLineChannel.Handler() {
                                    @Override
                                    public void onMessage(ObjectNode message) {
                                    }

                                    @Override
                                    public void onEnd(VmmUnavailableException cause, boolean byUs) {
                                    }
                                }, Duration.ofMillis(300))));
                assertEquals(Reason.TIMED_OUT, e.reason(), e::getMessage);
                assertTrue(e.getMessage().contains("backlog of connections is full"), e.getMessage());
            } finally {
                for (java.nio.channels.SocketChannel c : queued) {
                    c.close();
                }
            }
        }
    }

    @Test
    void nothingListeningIsExited() {
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> JsonLineChannel.connect(
                dir.resolve("nobody.sock"), JsonLineChannel.Options.of("nobody", CAP, JSON),
                new JsonLineChannel.Handler() {
                    @Override
                    public void onMessage(ObjectNode message) {
                    }

                    @Override
                    public void onEnd(VmmUnavailableException cause, boolean byUs) {
                    }
                }));
        assertEquals(Reason.EXITED, e.reason());
        assertTrue(e.getMessage().startsWith("cannot connect to nobody"), e.getMessage());
    }
}
