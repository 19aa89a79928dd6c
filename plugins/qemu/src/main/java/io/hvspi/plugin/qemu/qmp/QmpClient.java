package io.hvspi.plugin.qemu.qmp;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BiConsumer;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client for one QMP connection over a Unix socket.
 *
 * <p>The connection is checked and negotiated on {@link #connect}: the first
 * message must be QEMU's greeting, then {@code qmp_capabilities} is sent (with no
 * optional capability, so commands are answered in order). Every command carries
 * an id ({@code hvspi-<n>}) and waits for the reply with that id, up to its own
 * timeout; {@link #submit} puts several in flight at once (QEMU answers them in
 * order). One reader thread parses what QEMU sends: replies complete the waiting
 * call, events go to each subscriber's own queue and thread, so a slow
 * subscriber never delays a reply. A line longer than the cap, or anything that
 * is not a QMP message, ends the connection with {@link Reason#PROTOCOL_ERROR};
 * end of stream (QEMU exited) fails every waiting call at once with
 * {@link Reason#EXITED}, not after its timeout.
 *
 * <p>Interrupting a caller neither breaks the connection nor abandons a command.
 * The socket is in non-blocking mode, because a blocking NIO channel closes itself
 * when a thread inside one of its operations is interrupted, which would cut every
 * other user of the VM off; callers write into it directly, and the reader waits on
 * a selector. A caller waits for the reply to a command it sent, up to the timeout,
 * keeping its interrupt status for later: QEMU carries the command out whether or not
 * anyone waits, and the caller must know what it did.
 *
 * <p>Thread-safe. QEMU serves one QMP client per socket at a time: a second
 * client's greeting only arrives after the first disconnects.
 */
public final class QmpClient implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(QmpClient.class);

    /** The largest message accepted; {@code query-qmp-schema}, QEMU's longest reply, is about 200 KiB. */
    public static final int DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024;

    /** The JSON mapper QMP messages are read and written with. */
    public static final ObjectMapper JSON = new ObjectMapper();

    private final Path socket;
    private final SocketChannel channel;
    /** The reader waits here until the (non-blocking) socket has something to read. */
    private final Selector selector;
    private final Duration defaultTimeout;
    private final int maxLineBytes;
    private final Object writeLock = new Object();
    private final AtomicLong nextId = new AtomicLong(1);
    private final Map<String, Pending> pending = new ConcurrentHashMap<>();
    private final List<EventSubscription> subscriptions = new CopyOnWriteArrayList<>();
    private final List<EventWait> waits = new CopyOnWriteArrayList<>();
    private final CompletableFuture<QmpGreeting> greeting = new CompletableFuture<>();
    private volatile VmmUnavailableException disconnected;
    private volatile boolean closedLocally;

    private record Pending(String command, CompletableFuture<JsonNode> reply) {}

    private record EventWait(Predicate<QmpEvent> match, CompletableFuture<QmpEvent> result) {}

    private QmpClient(Path socket, SocketChannel channel, Selector selector, Duration defaultTimeout,
                      int maxLineBytes) {
        this.socket = socket;
        this.channel = channel;
        this.selector = selector;
        this.defaultTimeout = defaultTimeout;
        this.maxLineBytes = maxLineBytes;
    }

    /** Connects with the default line cap. */
    public static QmpClient connect(Path socket, Duration timeout) {
        return connect(socket, timeout, DEFAULT_MAX_LINE_BYTES);
    }

    /**
     * Connects, checks the greeting and negotiates capabilities.
     *
     * @param socket QEMU's QMP socket ({@code -chardev socket,server=on})
     * @param timeout the greeting's timeout, and the default timeout of every later command
     * @param maxLineBytes the longest message accepted
     * @throws VmmUnavailableException EXITED when nothing listens on the socket, TIMED_OUT when no greeting
     *         comes, PROTOCOL_ERROR when the first message is not a greeting
     */
    public static QmpClient connect(Path socket, Duration timeout, int maxLineBytes) {
        SocketChannel ch;
        try {
            ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        } catch (IOException e) {
            throw new HvspiException("cannot open a Unix socket: " + e.getMessage(), e);
        }
        try {
            ch.connect(UnixDomainSocketAddress.of(socket));
        } catch (IOException e) {
            closeQuietly(ch);
            throw new VmmUnavailableException(Reason.EXITED,
                    "cannot connect to QMP socket " + socket + ": " + e.getMessage(), e);
        }
        Selector selector;
        try {
            ch.configureBlocking(false);
            selector = Selector.open();
            ch.register(selector, SelectionKey.OP_READ);
        } catch (IOException e) {
            closeQuietly(ch);
            throw new HvspiException("cannot set up the QMP connection to " + socket + ": " + e.getMessage(), e);
        }
        QmpClient client = new QmpClient(socket, ch, selector, timeout, maxLineBytes);
        // a platform thread: a virtual one's wait goes through the JDK's poller, one more hop per reply
        Thread.ofPlatform().daemon().name("qmp-reader " + socket.getFileName()).start(client::readLoop);
        try {
            client.awaitGreeting(timeout);
            client.execute("qmp_capabilities");
            return client;
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
    }

    private void awaitGreeting(Duration timeout) {
        try {
            greeting.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new VmmUnavailableException(Reason.TIMED_OUT, "no QMP greeting on " + socket + " within "
                    + timeout.toMillis() + " ms (another client may hold the connection)");
        } catch (ExecutionException e) {
            throw rethrow(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HvspiException("interrupted while waiting for the QMP greeting on " + socket, e);
        }
    }

    /** The greeting QEMU sent. */
    public QmpGreeting greeting() {
        return greeting.getNow(null);
    }

    /** The socket this client is connected to. */
    public Path socket() {
        return socket;
    }

    /** The timeout commands get when they name none. */
    public Duration defaultTimeout() {
        return defaultTimeout;
    }

    /** A new empty JSON object, for command arguments. */
    public static ObjectNode args() {
        return JSON.createObjectNode();
    }

    /** Runs a command without arguments, with the default timeout. */
    public JsonNode execute(String command) {
        return execute(command, null, defaultTimeout);
    }

    /** Runs a command with the default timeout. */
    public JsonNode execute(String command, ObjectNode arguments) {
        return execute(command, arguments, defaultTimeout);
    }

    /**
     * Sends a command and waits for its reply.
     *
     * @param arguments the {@code arguments} object, or null for none
     * @return the reply's {@code return} value
     * @throws VmmException QEMU answered with an error (its class and text kept)
     * @throws VmmUnavailableException no reply within {@code timeout} (TIMED_OUT), the connection ended (EXITED),
     *         or QEMU broke the protocol (PROTOCOL_ERROR)
     */
    public JsonNode execute(String command, ObjectNode arguments, Duration timeout) {
        return await(submit(command, arguments), timeout);
    }

    /** A command sent and not answered yet; {@link #await} its reply. */
    public static final class Call {
        private final String id;
        private final Pending pending;

        private Call(String id, Pending pending) {
            this.id = id;
            this.pending = pending;
        }

        public String command() {
            return pending.command();
        }

        /**
         * Calls {@code action} once this command ends, also when {@link #await} gave up
         * on it: with QEMU's reply (and a null error), with the {@link VmmException}
         * QEMU answered, or with the {@link VmmUnavailableException} that ended the
         * connection first. Runs on a virtual thread of its own, never the reader's, so
         * the action may send commands. For finishing or undoing what a command that
         * timed out still does when QEMU answers late.
         */
        public void whenDone(BiConsumer<JsonNode, HvspiException> action) {
            pending.reply().whenComplete((reply, error) -> Thread.ofVirtual().name("qmp-late " + command())
                    .start(() -> action.accept(reply, error == null ? null : failure(error))));
        }
    }

    /**
     * Sends a command without waiting, so that several can be in flight: QEMU
     * answers them in order (out-of-band execution is off). Every call must be
     * {@linkplain #await awaited}.
     */
    public Call submit(String command, ObjectNode arguments) {
        Objects.requireNonNull(command, "command");
        VmmUnavailableException down = disconnected;
        if (down != null) {
            throw copy(down, command);
        }
        String id = "hvspi-" + nextId.getAndIncrement();
        ObjectNode msg = JSON.createObjectNode().put("execute", command);
        if (arguments != null) {
            msg.set("arguments", arguments);
        }
        msg.put("id", id);
        Pending p = new Pending(command, new CompletableFuture<>());
        pending.put(id, p); // before sending, so that no reply can overtake the registration
        try {
            byte[] bytes = (JSON.writeValueAsString(msg) + "\n").getBytes(StandardCharsets.UTF_8);
            synchronized (writeLock) {
                send(ByteBuffer.wrap(bytes));
            }
        } catch (IOException e) {
            pending.remove(id);
            VmmUnavailableException cause = disconnected;
            throw cause != null ? copy(cause, command)
                    : new VmmUnavailableException(Reason.EXITED, "cannot send " + command + " to " + socket + ": "
                            + e.getMessage(), e);
        }
        // the reader may have failed every pending call just before we registered
        if (disconnected != null) {
            failPending(disconnected);
        }
        return new Call(id, p);
    }

    /** Waits for a submitted command's reply, with the default timeout. */
    public JsonNode await(Call call) {
        return await(call, defaultTimeout);
    }

    /**
     * Waits for a submitted command's reply; see {@link #execute(String, ObjectNode, Duration)} for the
     * errors. An interrupt does not cut the wait short (QEMU runs the command anyway); it is kept.
     */
    public JsonNode await(Call call, Duration timeout) {
        String command = call.pending.command();
        long deadline = System.nanoTime() + timeout.toNanos();
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return call.pending.reply().get(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
                } catch (InterruptedException e) {
                    // QEMU runs the command whether or not anyone waits: wait on, and keep the interrupt
                    interrupted = true;
                }
            }
        } catch (TimeoutException e) {
            // the call stays registered: its late reply is matched to it by id (and dropped), never to a later call
            throw new VmmUnavailableException(Reason.TIMED_OUT,
                    "no reply to " + command + " from " + socket + " within " + timeout.toMillis() + " ms");
        } catch (ExecutionException e) {
            throw rethrow(e.getCause());
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * A future for the next event that matches, registered now: call this before
     * sending the command that causes the event. It fails with
     * {@link VmmUnavailableException} when the connection ends first; cancel it when
     * no longer interested.
     */
    public CompletableFuture<QmpEvent> nextEvent(Predicate<QmpEvent> match) {
        EventWait w = new EventWait(match, new CompletableFuture<>());
        waits.add(w);
        w.result().whenComplete((e, t) -> waits.remove(w));
        VmmUnavailableException down = disconnected;
        if (down != null) {
            w.result().completeExceptionally(down);
        }
        return w.result();
    }

    /** Delivers every event to {@code listener} on a thread of its own, until the subscription is closed. */
    public Subscription subscribe(QmpListener listener) {
        EventSubscription s = new EventSubscription(listener);
        subscriptions.add(s);
        VmmUnavailableException down = disconnected;
        if (down != null && !closedLocally) {
            s.disconnect(down);
        }
        return s;
    }

    /** True until the connection ends. */
    public boolean isConnected() {
        return disconnected == null;
    }

    /** How many commands QEMU has not answered yet, those whose callers gave up waiting included. */
    public int pendingCount() {
        return pending.size();
    }

    /** Closes the connection; waiting calls fail with EXITED. Idempotent; never throws. */
    @Override
    public void close() {
        closedLocally = true;
        disconnect(new VmmUnavailableException(Reason.EXITED, "QMP connection to " + socket + " was closed by hvspi"));
    }

    /**
     * Writes a whole message. A QEMU that stops reading (SIGSTOP) fills the socket buffer;
     * after the default timeout the connection ends, since half a command may have gone out
     * and the stream cannot be used again.
     */
    private void send(ByteBuffer b) throws IOException {
        long deadline = System.nanoTime() + defaultTimeout.toNanos();
        while (b.hasRemaining()) {
            if (channel.write(b) > 0) {
                continue;
            }
            if (System.nanoTime() > deadline) {
                VmmUnavailableException stuck = new VmmUnavailableException(Reason.TIMED_OUT, "QEMU on " + socket
                        + " has not read hvspi's commands for " + defaultTimeout.toMillis()
                        + " ms; the connection is closed");
                disconnect(stuck);
                throw new IOException(stuck.getMessage(), stuck);
            }
            LockSupport.parkNanos(1_000_000);
        }
    }

    /** A blocking read on the non-blocking socket: waits on the selector while there is nothing to read. */
    private int readWaiting(ByteBuffer into) throws IOException {
        while (true) {
            int n = channel.read(into);
            if (n != 0) {
                return n;
            }
            selector.select();
            selector.selectedKeys().clear();
            if (!channel.isOpen()) {
                throw new AsynchronousCloseException();
            }
        }
    }

    private void readLoop() {
        LineReader reader = new LineReader(new ReadableByteChannel() {
            @Override
            public int read(ByteBuffer into) throws IOException {
                return readWaiting(into);
            }

            @Override
            public boolean isOpen() {
                return channel.isOpen();
            }

            @Override
            public void close() throws IOException {
                channel.close();
            }
        }, maxLineBytes);
        try {
            byte[] line;
            while ((line = reader.readLine()) != null) {
                if (line.length == 0) {
                    continue;
                }
                handle(line);
            }
            disconnect(new VmmUnavailableException(Reason.EXITED,
                    "QMP connection to " + socket + " closed by QEMU (did it exit?)"));
        } catch (LineReader.LineTooLongException e) {
            disconnect(new VmmUnavailableException(Reason.PROTOCOL_ERROR,
                    "QMP protocol error on " + socket + ": " + e.getMessage(), e));
        } catch (ProtocolException e) {
            disconnect(new VmmUnavailableException(Reason.PROTOCOL_ERROR,
                    "QMP protocol error on " + socket + ": " + e.getMessage(), e));
        } catch (IOException e) {
            disconnect(new VmmUnavailableException(Reason.EXITED,
                    "QMP connection to " + socket + " lost: " + e.getMessage(), e));
        } catch (RuntimeException e) {
            LOG.error("QMP reader for {} failed", socket, e);
            disconnect(new VmmUnavailableException(Reason.PROTOCOL_ERROR,
                    "QMP reader for " + socket + " failed: " + e, e));
        } finally {
            try {
                selector.close();
            } catch (IOException e) {
                // nothing to do: the connection is gone
            }
        }
    }

    private static final class ProtocolException extends IOException {
        private static final long serialVersionUID = 1L;

        ProtocolException(String message) {
            super(message);
        }
    }

    private void handle(byte[] line) throws ProtocolException {
        JsonNode msg;
        try {
            msg = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new ProtocolException("not JSON: " + preview(line));
        } catch (IOException e) {
            throw new ProtocolException("unreadable message: " + preview(line));
        }
        if (msg == null || !msg.isObject()) {
            throw new ProtocolException("not a JSON object: " + preview(line));
        }
        if (!greeting.isDone()) {
            QmpGreeting g = QmpGreeting.parse(msg)
                    .orElseThrow(() -> new ProtocolException("expected a QMP greeting, got: " + preview(line)));
            greeting.complete(g);
            return;
        }
        if (msg.has("event")) {
            dispatch(toEvent(msg));
        } else if (msg.has("return") || msg.has("error")) {
            complete(msg, line);
        } else {
            throw new ProtocolException("neither a reply nor an event: " + preview(line));
        }
    }

    private void complete(JsonNode msg, byte[] line) {
        JsonNode idNode = msg.get("id");
        Pending p = idNode == null ? null : pending.remove(idNode.asText());
        if (p == null) {
            // not an id of ours, or no id at all (QEMU's reply to input it could not parse)
            LOG.warn("QMP {}: ignoring a reply nobody waits for: {}", socket, preview(line));
            return;
        }
        if (msg.has("error")) {
            JsonNode err = msg.get("error");
            p.reply().completeExceptionally(new VmmException(p.command(), err.path("class").asText("GenericError"),
                    err.path("desc").asText("")));
        } else {
            p.reply().complete(msg.get("return"));
        }
    }

    private static QmpEvent toEvent(JsonNode msg) {
        JsonNode ts = msg.path("timestamp");
        Instant when = ts.has("seconds")
                ? Instant.ofEpochSecond(ts.path("seconds").asLong(), ts.path("microseconds").asLong() * 1000)
                : Instant.now();
        JsonNode data = msg.has("data") ? msg.get("data") : JSON.createObjectNode();
        return new QmpEvent(msg.path("event").asText(), when, data);
    }

    private void dispatch(QmpEvent event) {
        for (EventWait w : waits) {
            boolean hit;
            try {
                hit = w.match().test(event);
            } catch (RuntimeException e) {
                w.result().completeExceptionally(e);
                continue;
            }
            if (hit) {
                w.result().complete(event);
            }
        }
        for (EventSubscription s : subscriptions) {
            s.deliver(event);
        }
    }

    private void disconnect(VmmUnavailableException cause) {
        synchronized (this) {
            if (disconnected != null) {
                return;
            }
            disconnected = cause;
        }
        if (!closedLocally) {
            LOG.debug("QMP {}: {}", socket, cause.getMessage());
        }
        closeQuietly(channel);
        selector.wakeup();
        greeting.completeExceptionally(cause);
        failPending(cause);
        for (EventWait w : waits) {
            w.result().completeExceptionally(cause);
        }
        for (EventSubscription s : subscriptions) {
            if (closedLocally) {
                s.close();
            } else {
                s.disconnect(cause);
            }
        }
    }

    private void failPending(VmmUnavailableException cause) {
        for (var it = pending.values().iterator(); it.hasNext(); ) {
            it.next().reply().completeExceptionally(cause);
            it.remove();
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof VmmUnavailableException u) {
            return copy(u, null);
        }
        if (t instanceof VmmException e) {
            // a fresh exception, so that the stack trace shows the caller
            return new VmmException(e.command(), e.errorClass(), e.vmmMessage());
        }
        if (t instanceof RuntimeException r) {
            return r;
        }
        return new HvspiException(String.valueOf(t), t);
    }

    private static HvspiException failure(Throwable t) {
        RuntimeException r = rethrow(t);
        return r instanceof HvspiException h ? h : new HvspiException(String.valueOf(r), r);
    }

    private static VmmUnavailableException copy(VmmUnavailableException u, String command) {
        String msg = command == null ? u.getMessage() : command + ": " + u.getMessage();
        return new VmmUnavailableException(u.reason(), msg, u);
    }

    private static String preview(byte[] line) {
        String s = new String(line, 0, Math.min(line.length, 120), StandardCharsets.UTF_8);
        return line.length > 120 ? s + "... (" + line.length + " bytes)" : s;
    }

    private static void closeQuietly(SocketChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing to do: the connection is being abandoned
        }
    }

    /** An event subscription; closing it stops delivery. */
    public interface Subscription extends AutoCloseable {
        @Override
        void close();
    }

    /** One subscriber: its own queue and (virtual) thread, so subscribers never delay each other or replies. */
    private final class EventSubscription implements Subscription {
        private final QmpListener listener;
        private final ExecutorService queue;

        EventSubscription(QmpListener listener) {
            this.listener = listener;
            this.queue = Executors.newSingleThreadExecutor(Thread.ofVirtual().name("qmp-events").factory());
        }

        void deliver(QmpEvent event) {
            submit(() -> listener.onEvent(event));
        }

        void disconnect(VmmUnavailableException cause) {
            submit(() -> listener.onDisconnect(cause));
            queue.shutdown();
            subscriptions.remove(this);
        }

        private void submit(Runnable r) {
            try {
                queue.execute(() -> {
                    try {
                        r.run();
                    } catch (RuntimeException e) {
                        LOG.warn("QMP event listener failed", e);
                    }
                });
            } catch (RejectedExecutionException closed) {
                // the subscription was closed: drop the event
            }
        }

        @Override
        public void close() {
            subscriptions.remove(this);
            queue.shutdownNow();
        }
    }
}
