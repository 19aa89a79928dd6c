package io.hvspi.plugin.qemu.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A scripted QMP server on a Unix socket, for what real QEMU never does (garbage,
 * truncation, silence) and for QEMU versions that are not installed (replies
 * recorded or written per version). It greets, answers {@code qmp_capabilities},
 * answers commands from canned replies ({@code {}} for the rest, or, once
 * {@link #refuseUnknown()} is called, QEMU's {@code CommandNotFound} error), and lets a
 * test take over any command with a script.
 */
public final class FakeQmpServer implements AutoCloseable {
    public static final ObjectMapper JSON = new ObjectMapper();
    public static final String GREETING_7_2 = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, "
            + "\"major\": 7}, \"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}";

    /** Handles one command; write the answer (or anything else) to the connection. */
    @FunctionalInterface
    public interface Script {
        void on(JsonNode request, Conn conn) throws IOException;
    }

    /** One client connection. */
    public static final class Conn {
        private final SocketChannel ch;

        Conn(SocketChannel ch) {
            this.ch = ch;
        }

        /** Sends text as is (no newline added). */
        public synchronized void raw(String text) throws IOException {
            ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
            while (b.hasRemaining()) {
                ch.write(b);
            }
        }

        public void line(String json) throws IOException {
            raw(json + "\n");
        }

        public void reply(JsonNode request, JsonNode value) throws IOException {
            ObjectNode r = JSON.createObjectNode();
            r.set("return", value);
            copyId(request, r);
            line(JSON.writeValueAsString(r));
        }

        public void error(JsonNode request, String errorClass, String desc) throws IOException {
            ObjectNode r = JSON.createObjectNode();
            r.putObject("error").put("class", errorClass).put("desc", desc);
            copyId(request, r);
            line(JSON.writeValueAsString(r));
        }

        /** As QEMU does: the reply carries the request's id when it had one, and no id member otherwise. */
        private static void copyId(JsonNode request, ObjectNode reply) {
            if (request.has("id")) {
                reply.set("id", request.get("id"));
            }
        }

        public void event(String name, JsonNode data) throws IOException {
            ObjectNode e = JSON.createObjectNode().put("event", name);
            e.set("data", data);
            e.putObject("timestamp").put("seconds", 1_700_000_000L).put("microseconds", 5);
            line(JSON.writeValueAsString(e));
        }

        public void close() throws IOException {
            ch.close();
        }
    }

    private final Path socket;
    private final ServerSocketChannel server;
    private final String greeting;
    private final Map<String, Script> scripts = new ConcurrentHashMap<>();
    private final Map<String, JsonNode> replies = new ConcurrentHashMap<>();
    private final List<JsonNode> requests = new CopyOnWriteArrayList<>();
    private final List<Conn> conns = new CopyOnWriteArrayList<>();
    private final Thread acceptor;
    private volatile boolean refuseUnknown;

    public FakeQmpServer(Path socket, String greeting) {
        this.socket = socket;
        this.greeting = greeting;
        try {
            server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(socket));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        acceptor = Thread.ofVirtual().name("fake-qmp-accept").start(this::acceptLoop);
    }

    public Path socket() {
        return socket;
    }

    /** Answers {@code command} with this {@code return} value. */
    public FakeQmpServer reply(String command, JsonNode value) {
        replies.put(command, value);
        return this;
    }

    /** Answers {@code command} by running the script. */
    public FakeQmpServer on(String command, Script script) {
        scripts.put(command, script);
        return this;
    }

    /**
     * Answers a command that has neither a reply nor a script as QEMU answers one it does
     * not have: {@code {"error": {"class": "CommandNotFound", "desc": "The command X has
     * not been found"}}}. Replays use this, so that a test only passes on what it was given.
     */
    public FakeQmpServer refuseUnknown() {
        refuseUnknown = true;
        return this;
    }

    /** Every command received, in order, {@code qmp_capabilities} included. */
    public List<JsonNode> requests() {
        return List.copyOf(requests);
    }

    /** The arguments of every received {@code command}, in order. */
    public List<JsonNode> argumentsOf(String command) {
        return requests.stream().filter(r -> command.equals(r.path("execute").asText()))
                .map(r -> r.path("arguments")).toList();
    }

    /** The latest connection. */
    public Conn conn() {
        return conns.get(conns.size() - 1);
    }

    private void acceptLoop() {
        while (server.isOpen()) {
            try {
                SocketChannel ch = server.accept();
                Conn c = new Conn(ch);
                conns.add(c);
                Thread.ofVirtual().name("fake-qmp-conn").start(() -> serve(c, ch));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void serve(Conn c, SocketChannel ch) {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch),
                StandardCharsets.UTF_8))) {
            if (greeting != null) {
                c.line(greeting);
            }
            String line;
            while ((line = in.readLine()) != null) {
                JsonNode req = JSON.readTree(line);
                requests.add(req);
                String cmd = req.path("execute").asText();
                Script s = scripts.get(cmd);
                if (s != null) {
                    s.on(req, c);
                } else if (refuseUnknown && !replies.containsKey(cmd) && !"qmp_capabilities".equals(cmd)) {
                    c.error(req, "CommandNotFound", "The command " + cmd + " has not been found");
                } else {
                    c.reply(req, replies.getOrDefault(cmd, JSON.createObjectNode()));
                }
            }
        } catch (IOException e) {
            // the client or a script closed the connection
        }
    }

    @Override
    public void close() {
        try {
            server.close();
            for (Conn c : conns) {
                c.close();
            }
            Files.deleteIfExists(socket);
            acceptor.join(5_000);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
