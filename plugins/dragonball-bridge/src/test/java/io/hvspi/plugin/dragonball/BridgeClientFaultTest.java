package io.hvspi.plugin.dragonball;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.plugin.dragonball.bridge.BridgeClient;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The bridge client's fault behaviour, the same as QMP's (the plugin kit's channel under
 * both): a bridge that stops reading, an interrupted caller, a bridge that dies mid-call.
 */
class BridgeClientFaultTest {
    private static final Duration SHORT = Duration.ofMillis(300);
    private static final Duration NO_HANG = Duration.ofSeconds(20);
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private final CountDownLatch release = new CountDownLatch(1);
    private ServerSocketChannel server;
    private Thread peer;

    @AfterEach
    void tearDown() throws Exception {
        release.countDown();
        if (server != null) {
            server.close();
        }
        if (peer != null) {
            peer.join(TimeUnit.SECONDS.toMillis(5));
        }
    }

    /** What the hand-made bridge does after the handshake, with the request lines it reads. */
    private interface Script {
        void run(BufferedReader in, OutputStream out) throws Exception;
    }

    /** A bridge that greets, agrees on version 1, then follows {@code script}. */
    private Path bridge(Script script) throws IOException {
        Path socket = dir.resolve("bridge.sock");
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        peer = new Thread(() -> {
            try (SocketChannel ch = server.accept()) {
                BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch),
                        StandardCharsets.UTF_8));
                OutputStream out = Channels.newOutputStream(ch);
                out.write("{\"bridge\":\"hvspi-dragonball\",\"versions\":[1],\"pid\":1}\n".getBytes());
                in.readLine();
                out.write("{\"version\":1}\n".getBytes());
                script.run(in, out);
            } catch (Exception e) {
                // the client went away first
            }
        }, "fake-bridge");
        peer.start();
        return socket;
    }

    /** Answers each request with its own id, holding the answer to {@code held} until released. */
    private void answerEach(BufferedReader in, OutputStream out, String held, CountDownLatch received)
            throws Exception {
        String line;
        while ((line = in.readLine()) != null) {
            JsonNode request = JSON.readTree(line);
            if (request.path("action").asText().equals(held)) {
                received.countDown();
                release.await();
            }
            ObjectNode answer = JSON.createObjectNode().put("id", request.path("id").asLong());
            answer.putObject("result").put("action", request.path("action").asText());
            out.write((answer + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
    }

    @Test
    void aBridgeThatStopsReadingFailsTheCallWithinItsTimeoutNamingTheWriteTimeout() throws Exception {
        Path socket = bridge((in, out) -> release.await()); // never reads again, never closes
        try (BridgeClient c = BridgeClient.connect(socket, SHORT)) {
            // one line larger than any socket buffer: the write cannot complete while nobody reads
            ObjectNode config = JSON.createObjectNode().put("path", "x".repeat(BridgeClient.MAX_LINE_BYTES - 100));
            VmmUnavailableException e = assertTimeoutPreemptively(NO_HANG, () -> assertThrows(
                    VmmUnavailableException.class, () -> c.call("InsertBlockDevice", config, SHORT)));
            assertEquals(Reason.TIMED_OUT, e.reason());
            assertTrue(e.getMessage().contains("write timeout") && e.getMessage().contains(SHORT.toMillis() + " ms"),
                    e.getMessage());
            assertTrue(e.getMessage().startsWith("InsertBlockDevice: "), e.getMessage());
            assertFalse(c.isOpen(), "half a line may have gone out: the stream cannot be used again");
        }
    }

    @Test
    void anInterruptedCallerGetsItsAnswerKeepsTheConnectionAndItsInterrupt() throws Exception {
        CountDownLatch received = new CountDownLatch(1);
        Path socket = bridge((in, out) -> answerEach(in, out, "PauseMicroVm", received));
        try (BridgeClient c = BridgeClient.connect(socket, SHORT)) {
            // interrupted before the call: the call still goes out and its answer comes back
            AtomicReference<JsonNode> first = new AtomicReference<>();
            AtomicBoolean firstFlag = new AtomicBoolean();
            Thread before = Thread.ofPlatform().start(() -> {
                Thread.currentThread().interrupt();
                first.set(c.call("GetInstanceInfo", null, Duration.ofSeconds(10)));
                firstFlag.set(Thread.currentThread().isInterrupted());
            });
            before.join();
            assertEquals("GetInstanceInfo", first.get().path("action").asText());
            assertTrue(firstFlag.get(), "the interrupt status is kept");

            // interrupted while waiting: it waits on for the answer
            CompletableFuture<JsonNode> second = new CompletableFuture<>();
            AtomicBoolean secondFlag = new AtomicBoolean();
            Thread waiting = Thread.ofPlatform().start(() -> {
                try {
                    second.complete(c.call("PauseMicroVm", null, Duration.ofSeconds(10)));
                } catch (RuntimeException e) {
                    second.completeExceptionally(e);
                }
                secondFlag.set(Thread.currentThread().isInterrupted());
            });
            assertTrue(received.await(10, TimeUnit.SECONDS));
            waiting.interrupt();
            release.countDown();
            waiting.join();
            assertEquals("PauseMicroVm", second.get().path("action").asText());
            assertTrue(secondFlag.get(), "the interrupt status is kept");

            assertTrue(c.isOpen(), "an interrupt never closes the connection");
            assertEquals("ResumeMicroVm", c.call("ResumeMicroVm", null, SHORT).path("action").asText());
        }
    }

    @Test
    void aBridgeThatDiesMidCallFailsItAsExitedBeforeTheTimeout() throws Exception {
        Path socket = bridge((in, out) -> in.readLine()); // reads the request, then the connection ends
        try (BridgeClient c = BridgeClient.connect(socket, SHORT)) {
            CountDownLatch lost = new CountDownLatch(1);
            c.onLoss(e -> lost.countDown());
            VmmUnavailableException e = assertTimeoutPreemptively(NO_HANG, () -> assertThrows(
                    VmmUnavailableException.class, () -> c.call("StartMicroVm", null, Duration.ofMinutes(5))));
            assertEquals(Reason.EXITED, e.reason(), e.getMessage());
            assertTrue(e.getMessage().startsWith("StartMicroVm: "), e.getMessage());
            assertTrue(lost.await(10, TimeUnit.SECONDS), "the loss is reported");
            assertFalse(c.isOpen());
        }
    }
}
