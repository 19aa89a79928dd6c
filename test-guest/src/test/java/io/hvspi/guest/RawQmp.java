package io.hvspi.guest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Predicate;

/**
 * The smallest QMP client that can hotplug a disk: the tests use it to drive QEMU
 * directly, so that the guest is proven independently of the QEMU plugin.
 */
final class RawQmp implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNode CLOSED = JSON.createObjectNode().put("closed", true);

    private final SocketChannel channel;
    private final LinkedBlockingQueue<JsonNode> incoming = new LinkedBlockingQueue<>();
    private final List<JsonNode> events = new ArrayList<>();
    private int nextId;

    private RawQmp(SocketChannel channel) {
        this.channel = channel;
        Thread.ofPlatform().daemon().name("raw-qmp").start(this::readLoop);
    }

    static RawQmp connect(Path socket, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                channel.connect(UnixDomainSocketAddress.of(socket));
                RawQmp qmp = new RawQmp(channel);
                qmp.next(timeout); // greeting
                qmp.execute("qmp_capabilities", Map.of(), timeout);
                return qmp;
            } catch (IOException e) {
                channel.close();
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10)); // QEMU is still creating the socket
            }
        }
    }

    /** Runs a command and returns its {@code return} value; a QMP error fails the caller. */
    JsonNode execute(String command, Map<String, ?> arguments, Duration timeout) throws IOException {
        String id = "t" + nextId++;
        ObjectNode request = JSON.createObjectNode().put("execute", command).put("id", id);
        request.set("arguments", JSON.valueToTree(arguments));
        ByteBuffer bytes = ByteBuffer.wrap((JSON.writeValueAsString(request) + "\n").getBytes(StandardCharsets.UTF_8));
        while (bytes.hasRemaining()) {
            channel.write(bytes);
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            JsonNode message = next(Duration.ofNanos(deadline - System.nanoTime()));
            if (message.has("event")) {
                events.add(message);
            } else if (id.equals(message.path("id").asText())) {
                if (message.has("error")) {
                    throw new IOException(command + " failed: " + message.get("error"));
                }
                return message.get("return");
            }
        }
    }

    /** Waits for an event named {@code name} that {@code matcher} accepts (already received ones count). */
    JsonNode awaitEvent(String name, Predicate<JsonNode> matcher, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            for (Iterator<JsonNode> it = events.iterator(); it.hasNext(); ) {
                JsonNode event = it.next();
                if (name.equals(event.get("event").asText()) && matcher.test(event)) {
                    it.remove();
                    return event;
                }
            }
            JsonNode message = next(Duration.ofNanos(deadline - System.nanoTime()));
            if (message.has("event")) {
                events.add(message);
            }
        }
    }

    private JsonNode next(Duration timeout) throws IOException {
        try {
            JsonNode message = timeout.isNegative() ? null : incoming.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
            if (message == null) {
                throw new IOException("no QMP message within " + timeout.toMillis() + " ms");
            }
            if (message == CLOSED) {
                incoming.add(CLOSED);
                throw new IOException("QMP connection closed (QEMU exited?)");
            }
            return message;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    private void readLoop() {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                incoming.add(JSON.readTree(line));
            }
        } catch (IOException e) {
            // closed: reported to waiters below
        }
        incoming.add(CLOSED);
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
