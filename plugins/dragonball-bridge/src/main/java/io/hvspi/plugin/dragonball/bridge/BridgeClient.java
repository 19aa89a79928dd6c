package io.hvspi.plugin.dragonball.bridge;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client of the hvspi Dragonball bridge protocol, version 1: newline-delimited
 * JSON over a Unix socket ({@code docs/dragonball-bridge-protocol.md}).
 *
 * <p>One reader thread takes every line the bridge sends and completes the
 * request with the same id, so that callers wait with their own timeouts. The
 * connection is lost, and every waiting call fails with
 * {@link VmmUnavailableException}, when the bridge closes it, when a line is not
 * the protocol, or when a line passes {@link #MAX_LINE_BYTES}. A call that times
 * out leaves the connection open; its late answer is dropped.
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

    private final Path socket;
    private final SocketChannel channel;
    private final OutputStream out;
    private final Object writeLock = new Object();
    private final AtomicLong ids = new AtomicLong(1);
    private final Map<Long, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();
    // The first two lines are the greeting and the answer to our version; everything after is a response.
    private final CompletableFuture<JsonNode> greetingLine = new CompletableFuture<>();
    private final CompletableFuture<JsonNode> handshakeLine = new CompletableFuture<>();
    private final AtomicBoolean closing = new AtomicBoolean();
    private volatile VmmUnavailableException failure;
    private volatile Consumer<VmmUnavailableException> lossListener = e -> {};
    private Greeting greeting;

    private BridgeClient(Path socket, SocketChannel channel) {
        this.socket = socket;
        this.channel = channel;
        this.out = Channels.newOutputStream(channel);
    }

    /**
     * Connects, reads the greeting and agrees on version {@value #VERSION}, each step
     * within {@code timeout}. Throws {@link VmmUnavailableException}: {@code EXITED}
     * when nothing listens, {@code TIMED_OUT} when the bridge is silent,
     * {@code PROTOCOL_ERROR} when it is not this protocol or refuses the version.
     */
    public static BridgeClient connect(Path socket, Duration timeout) {
        SocketChannel channel;
        try {
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        } catch (IOException e) {
            throw new VmmUnavailableException(Reason.EXITED, "cannot open a Unix socket: " + e.getMessage(), e);
        }
        try {
            channel.connect(UnixDomainSocketAddress.of(socket));
        } catch (IOException e) {
            closeQuietly(channel);
            throw new VmmUnavailableException(Reason.EXITED,
                    "cannot connect to the Dragonball bridge at " + socket + ": " + describe(e), e);
        }
        BridgeClient client = new BridgeClient(socket, channel);
        Thread reader = new Thread(client::readLoop, "dragonball-bridge-reader");
        reader.setDaemon(true);
        reader.start();
        try {
            client.handshake(timeout);
            return client;
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
    }

    private void handshake(Duration timeout) {
        JsonNode g = await(greetingLine, timeout, "a greeting");
        JsonNode versions = g.path("versions");
        if (!BRIDGE_NAME.equals(g.path("bridge").asText(null)) || !versions.isArray()) {
            throw protocolError("the peer at " + socket + " is not a Dragonball bridge: its greeting is " + g);
        }
        List<Integer> offered = new ArrayList<>();
        versions.forEach(v -> offered.add(v.asInt()));
        greeting = new Greeting(List.copyOf(offered), g.path("vmm_version").asText(""), g.path("pid").asLong(0));
        if (!offered.contains(VERSION)) {
            throw protocolError("the Dragonball bridge at " + socket + " speaks protocol versions " + offered
                    + ", hvspi speaks " + VERSION);
        }
        send(MAPPER.createObjectNode().put("version", VERSION).put("client", "hvspi"));
        JsonNode answer = await(handshakeLine, timeout, "an answer to the version handshake");
        if (answer.has("error")) {
            JsonNode err = answer.path("error");
            throw protocolError("the Dragonball bridge at " + socket + " refused protocol version " + VERSION + ": "
                    + err.path("kind").asText() + ": " + err.path("message").asText());
        }
        if (answer.path("version").asInt(-1) != VERSION) {
            throw protocolError("the Dragonball bridge at " + socket + " answered the handshake with " + answer);
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
        return failure == null && !closing.get();
    }

    /** Called once, on the reader thread, when the connection is lost without {@link #close()}. */
    public void onLoss(Consumer<VmmUnavailableException> listener) {
        this.lossListener = listener;
    }

    /**
     * Sends one action and waits for its answer.
     *
     * @param config the action's config object, or null for an action without one
     * @return the response's {@code result} ({@link NullNode} for none)
     * @throws VmmException the bridge answered with an error; its kind is the exception's error class
     * @throws VmmUnavailableException no answer within {@code timeout}, or the connection is gone
     */
    public JsonNode call(String action, JsonNode config, Duration timeout) {
        VmmUnavailableException lost = failure;
        if (lost != null) {
            throw new VmmUnavailableException(lost.reason(), lost.getMessage(), lost);
        }
        if (closing.get()) {
            throw new VmmUnavailableException(Reason.EXITED, "the connection to the Dragonball bridge at " + socket
                    + " is closed");
        }
        long id = ids.getAndIncrement();
        CompletableFuture<JsonNode> answer = new CompletableFuture<>();
        pending.put(id, answer);
        ObjectNode request = MAPPER.createObjectNode().put("id", id).put("action", action);
        if (config != null) {
            request.set("config", config);
        }
        try {
            send(request);
            return answer.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new VmmUnavailableException(Reason.TIMED_OUT, "the Dragonball bridge at " + socket
                    + " did not answer " + action + " within " + timeout.toMillis() + " ms");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof BridgeError err) {
                throw new VmmException(action, err.kind, err.getMessage());
            }
            VmmUnavailableException cause = (VmmUnavailableException) e.getCause();
            throw new VmmUnavailableException(cause.reason(), action + ": " + cause.getMessage(), cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmUnavailableException(Reason.TIMED_OUT, "interrupted while waiting for " + action);
        } finally {
            pending.remove(id);
        }
    }

    /** Disconnects; waiting calls fail. Never throws. */
    @Override
    public void close() {
        if (closing.compareAndSet(false, true)) {
            failAll(new VmmUnavailableException(Reason.EXITED, "the connection to the Dragonball bridge at "
                    + socket + " was closed"));
            closeQuietly(channel);
        }
    }

    private void send(JsonNode message) {
        byte[] line;
        try {
            line = (MAPPER.writeValueAsString(message) + "\n").getBytes(StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot encode a bridge request", e);
        }
        if (line.length - 1 > MAX_LINE_BYTES) {
            throw new IllegalArgumentException("bridge request is " + (line.length - 1) + " bytes, over the "
                    + MAX_LINE_BYTES + "-byte line limit");
        }
        try {
            synchronized (writeLock) {
                out.write(line);
                out.flush();
            }
        } catch (IOException e) {
            VmmUnavailableException lostNow = new VmmUnavailableException(Reason.EXITED,
                    "cannot write to the Dragonball bridge at " + socket + ": " + describe(e), e);
            lose(lostNow);
            throw lostNow;
        }
    }

    private JsonNode await(CompletableFuture<JsonNode> line, Duration timeout, String what) {
        try {
            return line.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new VmmUnavailableException(Reason.TIMED_OUT, "the Dragonball bridge at " + socket + " sent no "
                    + what + " within " + timeout.toMillis() + " ms");
        } catch (ExecutionException e) {
            VmmUnavailableException cause = (VmmUnavailableException) e.getCause();
            throw new VmmUnavailableException(cause.reason(), "waiting for " + what + ": " + cause.getMessage(), cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmUnavailableException(Reason.TIMED_OUT, "interrupted while waiting for " + what);
        }
    }

    private void readLoop() {
        try (InputStream in = new BufferedInputStream(Channels.newInputStream(channel))) {
            while (true) {
                byte[] line = readLine(in);
                if (line == null) {
                    lose(new VmmUnavailableException(Reason.EXITED, "the Dragonball bridge at " + socket
                            + " closed the connection"));
                    return;
                }
                if (!isBlank(line)) {
                    dispatch(parse(line));
                }
            }
        } catch (VmmUnavailableException e) {
            lose(e);
        } catch (IOException e) {
            lose(new VmmUnavailableException(Reason.EXITED, "lost the Dragonball bridge at " + socket + ": "
                    + describe(e), e));
        }
    }

    private void dispatch(JsonNode message) {
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
            throw protocolError("the Dragonball bridge at " + socket + " rejected a request: "
                    + (error == null ? message : error.path("kind").asText() + ": " + error.path("message").asText()));
        }
        if (!id.canConvertToLong() || !(message.has("result") || error != null)) {
            throw protocolError("the Dragonball bridge at " + socket + " sent a line that is not a response: "
                    + message);
        }
        CompletableFuture<JsonNode> answer = pending.remove(id.asLong());
        if (answer == null) {
            LOG.debug("dropping a late or unknown answer from the Dragonball bridge: {}", message);
        } else if (error != null) {
            answer.completeExceptionally(new BridgeError(error.path("kind").asText("Bridge.Unknown"),
                    error.path("message").asText("")));
        } else {
            answer.complete(message.get("result"));
        }
    }

    private JsonNode parse(byte[] line) {
        try {
            JsonNode node = MAPPER.readTree(line);
            if (node != null && node.isObject()) {
                return node;
            }
        } catch (IOException e) {
            // fall through: not the protocol
        }
        String shown = new String(line, 0, Math.min(line.length, 200), StandardCharsets.UTF_8);
        throw protocolError("the Dragonball bridge at " + socket + " sent a line that is not a JSON object: " + shown);
    }

    private byte[] readLine(InputStream in) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream(256);
        while (true) {
            int b = in.read();
            if (b < 0) {
                return null;
            }
            if (b == '\n') {
                return buf.toByteArray();
            }
            if (buf.size() >= MAX_LINE_BYTES) {
                throw protocolError("the Dragonball bridge at " + socket + " sent a line over " + MAX_LINE_BYTES
                        + " bytes");
            }
            buf.write(b);
        }
    }

    private void lose(VmmUnavailableException e) {
        if (failure != null) {
            return;
        }
        failure = e;
        failAll(e);
        closeQuietly(channel);
        if (!closing.get()) {
            LOG.debug("lost the Dragonball bridge at {}: {}", socket, e.getMessage());
            try {
                lossListener.accept(e);
            } catch (RuntimeException listenerFailure) {
                LOG.warn("bridge loss listener failed: {}", listenerFailure.toString());
            }
        }
    }

    private void failAll(VmmUnavailableException e) {
        greetingLine.completeExceptionally(e);
        handshakeLine.completeExceptionally(e);
        pending.values().forEach(f -> f.completeExceptionally(e));
    }

    private static VmmUnavailableException protocolError(String message) {
        return new VmmUnavailableException(Reason.PROTOCOL_ERROR, message);
    }

    private static boolean isBlank(byte[] line) {
        for (byte b : line) {
            if (b != ' ' && b != '\t' && b != '\r') {
                return false;
            }
        }
        return true;
    }

    private static String describe(IOException e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    private static void closeQuietly(SocketChannel channel) {
        try {
            channel.close();
        } catch (IOException e) {
            LOG.debug("closing bridge socket: {}", e.getMessage());
        }
    }

    /** An error answer, carried from the reader thread to the caller. */
    private static final class BridgeError extends Exception {
        private static final long serialVersionUID = 1L;
        final String kind;

        BridgeError(String kind, String message) {
            super(message, null, false, false);
            this.kind = kind;
        }
    }
}
