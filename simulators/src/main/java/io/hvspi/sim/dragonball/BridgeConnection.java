package io.hvspi.sim.dragonball;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client of the simulated bridge: greeting, version handshake, then one
 * response per well-formed request, with the protocol's malformed-request rules.
 */
final class BridgeConnection {
    private static final Logger LOG = LoggerFactory.getLogger(BridgeConnection.class);
    private static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;
    private static final Set<String> REQUEST_MEMBERS = Set.of("id", "action", "config");
    private static final Set<String> HANDSHAKE_MEMBERS = Set.of("version", "client");

    private final DragonballBridgeSimulator sim;
    private final SocketChannel channel;
    private final OutputStream out;
    private final Object writeLock = new Object();

    BridgeConnection(DragonballBridgeSimulator sim, SocketChannel channel) {
        this.sim = sim;
        this.channel = channel;
        this.out = Channels.newOutputStream(channel);
    }

    void close() {
        try {
            channel.close();
        } catch (IOException e) {
            LOG.debug("closing simulator connection: {}", e.getMessage());
        }
    }

    void serve() {
        try (InputStream in = new BufferedInputStream(Channels.newInputStream(channel))) {
            DragonballBridgeSimulator.Options options = sim.options();
            if (options.silent()) {
                in.transferTo(OutputStream.nullOutputStream());
                return;
            }
            if (options.greeting().isPresent()) {
                writeRaw(options.greeting().get());
            } else {
                write(greeting(options));
            }
            if (!handshake(in, options)) {
                return;
            }
            while (true) {
                Line line = readLine(in, options.maxLineBytes());
                if (line == null) {
                    return;
                }
                if (line.tooLong()) {
                    write(error(NullNode.getInstance(), ActionError.bridge("LineTooLong", "request line exceeds "
                            + options.maxLineBytes() + " bytes; closing the connection")));
                    return;
                }
                if (!line.isBlank() && !handle(line.bytes())) {
                    return;
                }
            }
        } catch (IOException e) {
            LOG.debug("simulator connection ended: {}", e.getMessage());
        } finally {
            close();
            sim.forget(this);
        }
    }

    private ObjectNode greeting(DragonballBridgeSimulator.Options options) {
        ObjectNode g = JSON.objectNode();
        g.put("bridge", DragonballBridgeSimulator.BRIDGE_NAME);
        options.versions().forEach(g.putArray("versions")::add);
        g.put("vmm_version", DragonballBridgeSimulator.VMM_VERSION);
        g.put("pid", sim.pid());
        return g;
    }

    /** Reads the client's {@code {"version": N}}; false when the connection must close. */
    private boolean handshake(InputStream in, DragonballBridgeSimulator.Options options) throws IOException {
        Line line;
        do {
            line = readLine(in, options.maxLineBytes());
            if (line == null) {
                return false;
            }
        } while (!line.tooLong() && line.isBlank());
        JsonNode hello = line.tooLong() ? null : parse(line.bytes()).orElse(null);
        JsonNode version = hello != null && hello.isObject() ? hello.get("version") : null;
        if (version == null || !version.isIntegralNumber() || !onlyMembers(hello, HANDSHAKE_MEMBERS)) {
            write(error(NullNode.getInstance(), ActionError.bridge("HandshakeRequired", "the first line must be "
                    + "{\"version\": N} with a protocol version this bridge speaks " + options.versions())));
            return false;
        }
        if (!options.versions().contains(version.intValue())) {
            write(error(NullNode.getInstance(), ActionError.bridge("VersionMismatch", "protocol version "
                    + version.asText() + " is not supported; this bridge speaks " + options.versions())));
            return false;
        }
        write(JSON.objectNode().put("version", version.intValue()));
        return true;
    }

    /** Answers one request line; false when the connection must close. */
    private boolean handle(byte[] bytes) throws IOException {
        Optional<JsonNode> parsed = parse(bytes);
        if (parsed.isEmpty() || !parsed.get().isObject()) {
            write(error(NullNode.getInstance(), ActionError.bridge("MalformedRequest",
                    parsed.isEmpty() ? "request is not valid JSON: " + parseError(bytes)
                            : "request must be a JSON object")));
            return true;
        }
        JsonNode request = parsed.get();
        JsonNode id = request.get("id");
        if (id == null || !(id.isTextual() || id.isIntegralNumber())) {
            write(error(NullNode.getInstance(), ActionError.bridge("MissingId",
                    "request needs an 'id' that is a string or an integer")));
            return true;
        }
        if (!onlyMembers(request, REQUEST_MEMBERS)) {
            write(error(id, ActionError.bridge("MalformedRequest",
                    "unknown request member; a request has only id, action and config")));
            return true;
        }
        JsonNode actionNode = request.get("action");
        if (actionNode == null || !actionNode.isTextual()) {
            write(error(id, ActionError.bridge("MalformedRequest", "request needs an 'action' string")));
            return true;
        }
        String action = actionNode.textValue();
        if (!DragonballVm.ACTIONS.contains(action)) {
            write(error(id, ActionError.bridge("UnknownAction", "unknown action '" + action + "' (known: "
                    + String.join(", ", DragonballVm.ACTIONS) + ")")));
            return true;
        }
        DragonballBridgeSimulator.Options options = sim.options();
        if (options.stalledActions().contains(action)) {
            LOG.debug("simulator stalls {} (id {})", action, id);
            return true;
        }
        if (options.crashingActions().contains(action)) {
            LOG.debug("simulator crashes on {} (id {})", action, id);
            sim.terminate();
            return false;
        }
        Optional<Future<JsonNode>> future = sim.execute(action, request.get("config"));
        if (future.isEmpty()) {
            return false;
        }
        try {
            write(JSON.objectNode().<ObjectNode>set("id", id).set("result", future.get().get()));
        } catch (ExecutionException e) {
            ActionError err = e.getCause() instanceof ActionError a ? a
                    : ActionError.bridge("Internal", "simulator failure: " + e.getCause());
            write(error(id, err));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
        if (action.equals("ShutdownMicroVm")) {
            sim.terminate(); // the VMM exits once it answered
            return false;
        }
        return true;
    }

    private static boolean onlyMembers(JsonNode node, Set<String> allowed) {
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            if (!allowed.contains(it.next())) {
                return false;
            }
        }
        return true;
    }

    private static Optional<JsonNode> parse(byte[] bytes) {
        try {
            return Optional.ofNullable(MAPPER.readTree(bytes));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static String parseError(byte[] bytes) {
        try {
            MAPPER.readTree(bytes);
            return "empty";
        } catch (JsonProcessingException e) {
            return e.getOriginalMessage();
        } catch (IOException e) {
            return e.getMessage();
        }
    }

    private static ObjectNode error(JsonNode id, ActionError err) {
        ObjectNode response = JSON.objectNode();
        response.set("id", id);
        response.putObject("error").put("kind", err.kind()).put("message", err.getMessage());
        return response;
    }

    private void write(JsonNode message) throws IOException {
        writeRaw(MAPPER.writeValueAsString(message));
    }

    private void writeRaw(String line) throws IOException {
        byte[] bytes = (line + "\n").getBytes(StandardCharsets.UTF_8);
        synchronized (writeLock) {
            out.write(bytes);
            out.flush();
        }
    }

    /** One line without its newline; {@code tooLong} when it passed the cap (the rest is not read). */
    private record Line(byte[] bytes, boolean tooLong) {
        boolean isBlank() {
            for (byte b : bytes) {
                if (b != ' ' && b != '\t' && b != '\r') {
                    return false;
                }
            }
            return true;
        }
    }

    /** The next line, or null at end of stream (a last line without newline is dropped). */
    private static Line readLine(InputStream in, int max) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream(256);
        while (true) {
            int b = in.read();
            if (b < 0) {
                return null;
            }
            if (b == '\n') {
                return new Line(buf.toByteArray(), false);
            }
            if (buf.size() >= max) {
                return new Line(new byte[0], true);
            }
            buf.write(b);
        }
    }
}
