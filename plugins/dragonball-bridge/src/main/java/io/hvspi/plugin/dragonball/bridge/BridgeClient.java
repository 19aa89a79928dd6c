package io.hvspi.plugin.dragonball.bridge;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.kit.channel.JsonLineChannel;
import io.hvspi.kit.channel.JsonLineChannel.ProtocolViolation;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client of the hvspi Dragonball bridge protocol, version 1: newline-delimited
 * JSON over a Unix socket ({@code docs/dragonball-bridge-protocol.md}), on the
 * plugin kit's {@link JsonLineChannel}.
 *
 * <p>Whoever reads the channel (the waiting caller itself, or the channel's background
 * reader) completes the request with the same id, so that callers wait with their own
 * timeouts. Faults behave as on QMP: the connection is lost, and
 * every waiting call fails with {@link VmmUnavailableException}, when the bridge
 * closes it ({@code EXITED}), when a line is not the protocol or passes
 * {@link #MAX_LINE_BYTES} ({@code PROTOCOL_ERROR}), or when the bridge stops reading
 * and a request cannot be written within the call's timeout ({@code TIMED_OUT}).
 * A call that times out waiting for its answer leaves the connection open; its late
 * answer is dropped. An interrupted caller keeps the connection and waits for its
 * answer (the bridge carries the action out anyway), with its interrupt status kept.
 */
public final class BridgeClient implements AutoCloseable {
    /** The {@code bridge} member a greeting must carry. */
    public static final String BRIDGE_NAME = "hvspi-dragonball";
    /** The protocol version this client speaks. */
    public static final int VERSION = 1;
    /** The longest line read or written, in bytes without the newline. */
    public static final int MAX_LINE_BYTES = 1 << 20;

    private static final Logger LOG = LoggerFactory.getLogger(BridgeClient.class);
    private static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    /**
     * What the bridge said about itself.
     *
     * @param versions the protocol versions it speaks
     * @param vmmVersion Dragonball's version behind it
     * @param pid the process id of the VMM (the sidecar, which hosts Dragonball)
     */
    public record Greeting(List<Integer> versions, String vmmVersion, long pid) {}

    private record Pending(String action, CompletableFuture<JsonNode> answer) {}

    private final Path socket;
    private final String peer;
    private final AtomicLong ids = new AtomicLong(1);
    private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
    // The first two lines are the greeting and the answer to our version; everything after is a response.
    private final CompletableFuture<JsonNode> greetingLine = new CompletableFuture<>();
    private final CompletableFuture<JsonNode> handshakeLine = new CompletableFuture<>();
    private volatile VmmUnavailableException ended;
    private volatile Consumer<VmmUnavailableException> lossListener = e -> {};
    private JsonLineChannel channel;
    private Greeting greeting;

    private BridgeClient(Path socket) {
        this.socket = socket;
        this.peer = "the Dragonball bridge at " + socket;
    }

    /**
     * Connects, reads the greeting and agrees on version {@value #VERSION}, each step
     * within {@code timeout}. Throws {@link VmmUnavailableException}: {@code EXITED}
     * when nothing listens, {@code TIMED_OUT} when the bridge is silent,
     * {@code PROTOCOL_ERROR} when it is not this protocol or refuses the version.
     */
    public static BridgeClient connect(Path socket, Duration timeout) {
        BridgeClient client = new BridgeClient(socket);
        long start = System.nanoTime();
        client.channel = JsonLineChannel.connect(socket,
                JsonLineChannel.Options.of(client.peer, MAX_LINE_BYTES, MAPPER), client.new Handler(), timeout);
        try {
            Duration left = timeout.minusNanos(System.nanoTime() - start);
            client.handshake(left.isNegative() ? Duration.ZERO : left);
            return client;
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
    }

    private void handshake(Duration timeout) {
        JsonNode g = await(greetingLine, timeout, "greeting");
        JsonNode versions = g.path("versions");
        if (!BRIDGE_NAME.equals(g.path("bridge").asText(null)) || !versions.isArray()) {
            throw protocolError("the peer at " + socket + " is not a Dragonball bridge: its greeting is " + g);
        }
        List<Integer> offered = new ArrayList<>();
        versions.forEach(v -> offered.add(v.asInt()));
        greeting = new Greeting(List.copyOf(offered), g.path("vmm_version").asText(""), g.path("pid").asLong(0));
        if (!offered.contains(VERSION)) {
            throw protocolError(peer + " speaks protocol versions " + offered + ", hvspi speaks " + VERSION);
        }
        channel.send(MAPPER.createObjectNode().put("version", VERSION).put("client", "hvspi"), timeout);
        JsonNode answer = await(handshakeLine, timeout, "answer to the version handshake");
        if (answer.has("error")) {
            JsonNode err = answer.path("error");
            throw protocolError(peer + " refused protocol version " + VERSION + ": "
                    + err.path("kind").asText() + ": " + err.path("message").asText());
        }
        if (answer.path("version").asInt(-1) != VERSION) {
            throw protocolError(peer + " answered the handshake with " + answer);
        }
    }

    public Greeting greeting() {
        return greeting;
    }

    public Path socket() {
        return socket;
    }

    /** True until the connection is lost or closed. */
    public boolean isOpen() {
        return channel.isOpen();
    }

    /**
     * Called once, on the thread reading (a waiting caller or the channel's background reader),
     * when the connection is lost without {@link #close()}.
     */
    public void onLoss(Consumer<VmmUnavailableException> listener) {
        this.lossListener = listener;
    }

    /** How many calls the bridge has not answered yet. */
    public int pendingCount() {
        return pending.size();
    }

    /**
     * Sends one action and waits for its answer. The request is written, and the answer
     * awaited, within {@code timeout} in all. An interrupt does not cut the call short.
     *
     * @param config the action's config object, or null for an action without one
     * @return the response's {@code result} ({@link NullNode} for none)
     * @throws VmmException the bridge answered with an error; its kind is the exception's error class
     * @throws VmmUnavailableException no answer within {@code timeout}, the bridge read nothing for
     *         {@code timeout} (the connection is closed then), or the connection is gone
     */
    public JsonNode call(String action, JsonNode config, Duration timeout) {
        VmmUnavailableException down = ended;
        if (down != null) {
            throw new VmmUnavailableException(down.reason(), action + ": " + down.getMessage(), down);
        }
        long start = System.nanoTime();
        long id = ids.getAndIncrement();
        CompletableFuture<JsonNode> answer = new CompletableFuture<>();
        pending.put(id, new Pending(action, answer)); // before sending, so that no answer can overtake it
        ObjectNode request = MAPPER.createObjectNode().put("id", id).put("action", action);
        if (config != null) {
            request.set("config", config);
        }
        try {
            try {
                channel.send(request, timeout);
            } catch (VmmUnavailableException e) {
                throw prefixed(action, e);
            }
            VmmUnavailableException lost = ended;
            if (lost != null) {
                answer.completeExceptionally(lost); // the thread reading may have failed every call just before we registered
            }
            Duration left = timeout.minusNanos(System.nanoTime() - start);
            try {
                return channel.await(answer, left.isNegative() ? Duration.ZERO : left,
                        () -> new VmmUnavailableException(Reason.TIMED_OUT, peer + " did not answer " + action
                                + " within " + timeout.toMillis() + " ms"));
            } catch (VmmUnavailableException e) {
                // our own timeout names the action already; a lost connection does not
                throw e.getCause() == null ? e : prefixed(action, e);
            }
        } finally {
            pending.remove(id);
        }
    }

    private static VmmUnavailableException prefixed(String action, VmmUnavailableException e) {
        return new VmmUnavailableException(e.reason(), action + ": " + e.getMessage(), e);
    }

    /** Disconnects; waiting calls fail. Never throws. */
    @Override
    public void close() {
        channel.close();
    }

    private JsonNode await(CompletableFuture<JsonNode> line, Duration timeout, String what) {
        try {
            return channel.await(line, timeout, () -> new VmmUnavailableException(Reason.TIMED_OUT, peer
                    + " sent no " + what + " within " + timeout.toMillis() + " ms"));
        } catch (VmmUnavailableException e) {
            throw e.reason() == Reason.TIMED_OUT && e.getCause() == null ? e
                    : new VmmUnavailableException(e.reason(), "waiting for " + what + ": " + e.getMessage(), e);
        }
    }

    /** What the channel's reader does with each line and with the end of the connection. */
    private final class Handler implements JsonLineChannel.Handler {
        @Override
        public void onMessage(ObjectNode message) {
            if (!greetingLine.isDone()) {
                greetingLine.complete(message);
                return;
            }
            if (!handshakeLine.isDone()) {
                handshakeLine.complete(message);
                return;
            }
            JsonNode id = message.get("id");
            JsonNode error = message.get("error");
            if (id == null || id.isNull()) {
                // Only a request the bridge could not read draws an answer without id; ours are well formed.
                throw new ProtocolViolation(peer + " rejected a request: " + (error == null ? message
                        : error.path("kind").asText() + ": " + error.path("message").asText()));
            }
            if (!id.canConvertToLong() || !(message.has("result") || error != null)) {
                throw new ProtocolViolation(peer + " sent a line that is not a response: " + message);
            }
            Pending call = pending.remove(id.asLong());
            if (call == null) {
                LOG.debug("dropping a late or unknown answer from the Dragonball bridge: {}", message);
            } else if (error != null) {
                call.answer().completeExceptionally(new VmmException(call.action(), error.path("kind")
                        .asText("Bridge.Unknown"), error.path("message").asText("")));
            } else {
                call.answer().complete(message.get("result"));
            }
        }

        @Override
        public void onEnd(VmmUnavailableException cause, boolean byUs) {
            ended = cause;
            greetingLine.completeExceptionally(cause);
            handshakeLine.completeExceptionally(cause);
            pending.values().forEach(p -> p.answer().completeExceptionally(cause));
            if (!byUs) {
                LOG.debug("lost {}: {}", peer, cause.getMessage());
                try {
                    lossListener.accept(cause);
                } catch (RuntimeException listenerFailure) {
                    LOG.warn("bridge loss listener failed: {}", listenerFailure.toString());
                }
            }
        }
    }

    private static VmmUnavailableException protocolError(String message) {
        return new VmmUnavailableException(Reason.PROTOCOL_ERROR, message);
    }
}
