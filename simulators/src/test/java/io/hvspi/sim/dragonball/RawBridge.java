package io.hvspi.sim.dragonball;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** A bare protocol client for tests: raw lines in and out, no checks of its own. */
final class RawBridge implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();

    private final SocketChannel channel;
    private final BufferedReader in;
    private final OutputStream out;
    private int nextId = 1;

    private RawBridge(Path socket) throws IOException {
        channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        channel.connect(UnixDomainSocketAddress.of(socket));
        in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
        out = Channels.newOutputStream(channel);
    }

    /** Connected, greeting not read yet. */
    static RawBridge open(Path socket) {
        try {
            return new RawBridge(socket);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Connected and past the version-1 handshake. */
    static RawBridge handshaken(Path socket) {
        RawBridge b = open(socket);
        b.read(); // greeting
        b.send("{\"version\":1}");
        JsonNode ack = b.read();
        if (ack.path("version").asInt() != 1) {
            throw new IllegalStateException("handshake failed: " + ack);
        }
        return b;
    }

    void send(String line) {
        sendBytes((line + "\n").getBytes(StandardCharsets.UTF_8));
    }

    void sendBytes(byte[] bytes) {
        try {
            out.write(bytes);
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The next line as JSON, or null at end of stream. */
    JsonNode read() {
        try {
            String line = in.readLine();
            return line == null ? null : JSON.readTree(line);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Sends an action with a fresh integer id and returns the whole response. */
    JsonNode call(String action, String configJson) {
        int id = nextId++;
        send("{\"id\":" + id + ",\"action\":\"" + action + "\"" + (configJson == null ? "" : ",\"config\":" + configJson)
                + "}");
        JsonNode response = read();
        if (response == null || response.path("id").asInt() != id) {
            throw new IllegalStateException("expected the answer to id " + id + ", got " + response);
        }
        return response;
    }

    /** The result of a call that must succeed. */
    JsonNode ok(String action, String configJson) {
        JsonNode r = call(action, configJson);
        if (!r.has("result")) {
            throw new AssertionError(action + " failed: " + r);
        }
        return r.get("result");
    }

    /** The error kind of a call that must fail. */
    String errorKind(String action, String configJson) {
        JsonNode r = call(action, configJson);
        if (!r.has("error")) {
            throw new AssertionError(action + " succeeded: " + r);
        }
        return r.path("error").path("kind").asText();
    }

    static ObjectNode object() {
        return JSON.createObjectNode();
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            // test helper: nothing to do
        }
    }
}
