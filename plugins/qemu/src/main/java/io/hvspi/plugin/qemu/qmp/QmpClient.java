package io.hvspi.plugin.qemu.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.kit.channel.JsonLineChannel;
import io.hvspi.kit.channel.JsonLineChannel.ProtocolViolation;
import io.hvspi.kit.channel.Replies;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BiConsumer;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client for one QMP connection over a Unix socket.
 *
 * <p>The connection is checked and negotiated on {@link #connect}: the first
 * message must be QEMU's greeting, then {@code qmp_capabilities} is sent (with no
 * optional capability, so commands are answered in the order they were sent);
 * {@link #open} leaves the negotiation in flight for the caller to await.
 * Replies are matched to commands by that order, as Kata's govmm matches them:
 * only {@code qmp_capabilities} carries an id, since QEMU reads its monitor one
 * byte per main-loop turn and an id on every command made each one measurably
 * slower (see {@link #capabilitiesId}). Each call waits up to its own timeout;
 * {@link #submit} puts several in flight at once. A waiting caller reads what QEMU
 * sends itself while no other thread does (the channel's leader/follower read), the
 * channel's background reader while no caller waits: replies complete their calls,
 * events go to each subscriber's own queue and thread, so a slow subscriber never
 * delays a reply. A line longer than the cap, or anything that
 * is not a QMP message, ends the connection with {@link Reason#PROTOCOL_ERROR};
 * end of stream (QEMU exited) fails every waiting call at once with
 * {@link Reason#EXITED}, not after its timeout.
 *
 * <p>Interrupting a caller neither breaks the connection nor abandons a command.
 * The transport is the plugin kit's {@link JsonLineChannel}: a non-blocking socket
 * (a blocking NIO channel closes itself when a thread inside one of its operations
 * is interrupted, which would cut every other user of the VM off), a write timeout
 * and a line cap. A caller waits for the reply to a command it sent, up to the
 * timeout, keeping its interrupt status for later: QEMU carries the command out
 * whether or not anyone waits, and the caller must know what it did.
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
    private final Duration defaultTimeout;
    private JsonLineChannel channel;
    private Call negotiation;
    /**
     * The id of this connection's {@code qmp_capabilities}, unique across connections: the barrier
     * between an earlier client's replies and this one's. QEMU may still owe a client that was
     * killed mid-command its reply, and writes it to whichever client is connected when the command
     * ends, even before that client's greeting (CrossProcessFaultTest found a reattach told a query
     * had an empty result). QEMU runs one command at a time, so such a reply always comes before
     * the reply to this connection's first command: everything before the reply with this id is
     * dropped, and after it every reply answers the oldest command still unanswered.
     *
     * <p>The other commands carry no id. QEMU's monitor reads its input one byte per main-loop turn
     * (its {@code monitor_can_read} admits one byte at a time), about 4 us a byte measured under
     * TCG on a 2-core host: an id of 30 bytes made each command 0.13 ms slower.
     */
    private final String capabilitiesId = "hvspi-" + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 16);
    /** Commands sent and not answered yet, in the order they went out; the thread reading alone takes the head. */
    private final Queue<Pending> pending = new ConcurrentLinkedQueue<>();
    /** Held while a command is queued and written, so that the queue's order is the order on the wire. */
    private final Object sendLock = new Object();
    /** Set when the reply to {@code qmp_capabilities} is read; used by the thread reading alone. */
    private boolean negotiated;
    private final List<EventSubscription> subscriptions = new CopyOnWriteArrayList<>();
    private final List<EventWait> waits = new CopyOnWriteArrayList<>();
    private final CompletableFuture<QmpGreeting> greeting = new CompletableFuture<>();
    private volatile VmmUnavailableException disconnected;
    private volatile boolean closedLocally;

    private record Pending(String command, CompletableFuture<JsonNode> reply, long sentNanos) {}

    /** Receives each command's round trip, timed from the send to the reply (see {@link #onRoundTrip}). */
    @FunctionalInterface
    public interface RoundTrips {
        void record(String command, Duration took, boolean ok);
    }

    private volatile RoundTrips roundTrips = (command, took, ok) -> { };

    /** Reports every later command's round trip to {@code sink}, on the thread reading: it must be quick. */
    public void onRoundTrip(RoundTrips sink) {
        this.roundTrips = Objects.requireNonNull(sink, "sink");
    }

    private record EventWait(Predicate<QmpEvent> match, CompletableFuture<QmpEvent> result) {}

    private QmpClient(Path socket, Duration defaultTimeout) {
        this.socket = socket;
        this.defaultTimeout = defaultTimeout;
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
        QmpClient client = open(socket, timeout, maxLineBytes);
        try {
            client.await(client.negotiation, timeout);
            return client;
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
    }

    /**
     * Connects and checks the greeting, and sends {@code qmp_capabilities} without waiting for
     * its reply. A QEMU that has just opened its socket greets within a millisecond or two but
     * answers its first command only once its machine is set up, about 25 ms later under TCG
     * (measured): a caller can do its own work meanwhile, and commands it submits queue behind
     * the negotiation. A refused negotiation ends the connection (PROTOCOL_ERROR), so no later
     * command is mistaken for a refused one. {@link #await} {@link #negotiation()} for its outcome.
     *
     * @see #connect(Path, Duration, int)
     */
    public static QmpClient open(Path socket, Duration timeout) {
        return open(socket, timeout, DEFAULT_MAX_LINE_BYTES);
    }

    private static QmpClient open(Path socket, Duration timeout, int maxLineBytes) {
        QmpClient client = new QmpClient(socket, timeout);
        long start = System.nanoTime();
        // QEMU's input has no line limit (a long qom-set value is legal): only what we read is capped;
        // a stopped QEMU whose backlog is full makes the connect wait, within the same timeout
        client.channel = JsonLineChannel.connect(socket,
                new JsonLineChannel.Options("QMP socket " + socket, maxLineBytes, Integer.MAX_VALUE, JSON),
                client.new Reader(), timeout);
        try {
            client.awaitGreeting(left(timeout, start));
            client.negotiation = client.submit("qmp_capabilities", null, client.capabilitiesId);
            return client;
        } catch (RuntimeException e) {
            client.close();
            throw e;
        }
    }

    /** What is left of {@code timeout} since {@code start} ({@link System#nanoTime}), never negative. */
    private static Duration left(Duration timeout, long start) {
        Duration left = timeout.minusNanos(System.nanoTime() - start);
        return left.isNegative() ? Duration.ZERO : left;
    }

    /** This connection's {@code qmp_capabilities}, answered before any later command. */
    public Call negotiation() {
        return negotiation;
    }

    private void awaitGreeting(Duration timeout) {
        try {
            greeting.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new VmmUnavailableException(Reason.TIMED_OUT, "no QMP greeting on " + socket + " within "
                    + timeout.toMillis() + " ms (another client may hold the connection)");
        } catch (ExecutionException e) {
            throw Replies.rethrow(e.getCause());
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
        private final Pending pending;

        private Call(Pending pending) {
            this.pending = pending;
        }

        public String command() {
            return pending.command();
        }

        /**
         * Calls {@code action} once this command ends, also when {@link #await} gave up
         * on it: with QEMU's reply (and a null error), with the {@link VmmException}
         * QEMU answered, or with the {@link VmmUnavailableException} that ended the
         * connection first. Runs on a virtual thread of its own, never the thread reading, so
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
        return submit(command, arguments, null);
    }

    private Call submit(String command, ObjectNode arguments, String id) {
        Objects.requireNonNull(command, "command");
        VmmUnavailableException down = disconnected;
        if (down != null) {
            throw copy(down, command);
        }
        ObjectNode msg = JSON.createObjectNode().put("execute", command);
        if (arguments != null) {
            msg.set("arguments", arguments);
        }
        if (id != null) {
            msg.put("id", id);
        }
        Pending p = new Pending(command, new CompletableFuture<>(), System.nanoTime());
        synchronized (sendLock) {
            pending.add(p); // before sending, so that no reply can overtake the registration
            try {
                // a peer that reads nothing for the default timeout ends the connection: half a command may be out
                channel.send(msg, defaultTimeout);
            } catch (VmmUnavailableException e) {
                pending.remove(p);
                throw copy(e, command);
            } catch (IllegalArgumentException e) {
                pending.remove(p); // nothing went out: the queue's order stays the wire's
                throw e;
            }
        }
        // the thread reading may have failed every pending call just before we registered
        if (disconnected != null) {
            failPending(disconnected);
        }
        return new Call(p);
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
        // the call stays queued on a timeout: its late reply is matched to it by order (and dropped)
        return channel.await(call.pending.reply(), timeout, () -> new VmmUnavailableException(Reason.TIMED_OUT,
                "no reply to " + command + " from " + socket + " within " + timeout.toMillis() + " ms"));
    }

    /**
     * Waits up to {@code timeout} for {@code done}, an outcome of what QEMU sends (an event's
     * handling, say), reading QEMU's messages in this thread meanwhile as {@link #await} does;
     * returns early when the thread is interrupted (the interrupt is kept). Then read
     * {@code done} itself: it may still be pending.
     */
    public void readUntil(CompletableFuture<?> done, Duration timeout) {
        channel.readUntil(done, timeout);
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

    /**
     * Closes the connection; waiting calls fail with EXITED. Subscriptions end silently:
     * QEMU may run on (another client may connect). Idempotent; never throws.
     */
    @Override
    public void close() {
        closedLocally = true;
        channel.close();
    }

    /**
     * Closes the connection of a QEMU known to be gone (it answered {@code quit}, or its
     * process ended): each subscriber hears the end ({@link QmpListener#onDisconnect}) once,
     * after every event delivered before it, as if QEMU had closed the connection first;
     * whether QEMU's end of stream or this close comes first makes no difference. Never throws.
     */
    public void closeEnded() {
        channel.close();
    }

    /** What the thread reading does with each message and with the end of the connection. */
    private final class Reader implements JsonLineChannel.Handler {
        @Override
        public void onMessage(ObjectNode msg) {
            if (!greeting.isDone()) {
                if (isReply(msg) || msg.has("event")) {
                    // nothing was sent yet: a reply or event QEMU still had for an earlier client (see capabilitiesId);
                    // what it reports is in QEMU's state, which whoever connects reads anyway
                    LOG.debug("QMP {}: ignoring what an earlier client was owed, before the greeting: {}", socket,
                            preview(msg));
                    return;
                }
                QmpGreeting g = QmpGreeting.parse(msg).orElseThrow(() -> protocolError("expected a QMP greeting, got: "
                        + preview(msg)));
                greeting.complete(g);
                return;
            }
            if (msg.has("event")) {
                dispatch(toEvent(msg));
            } else if (isReply(msg)) {
                complete(msg);
            } else {
                throw protocolError("neither a reply nor an event: " + preview(msg));
            }
        }

        @Override
        public void onEnd(VmmUnavailableException cause, boolean byUs) {
            disconnect(cause);
        }
    }

    private static boolean isReply(JsonNode msg) {
        return msg.has("return") || msg.has("error");
    }

    private ProtocolViolation protocolError(String what) {
        return new ProtocolViolation("QMP protocol error on " + socket + ": " + what);
    }

    private void complete(JsonNode msg) {
        JsonNode id = msg.get("id");
        boolean negotiationReply = !negotiated;
        if (!negotiated) {
            if (id == null || !capabilitiesId.equals(id.asText())) {
                // what QEMU still owed an earlier client when it went away (see capabilitiesId)
                LOG.debug("QMP {}: ignoring a reply to an earlier client: {}", socket, preview(msg));
                return;
            }
            negotiated = true;
        } else if (id != null) {
            // this client sends no other id: not an answer to anything it sent
            LOG.warn("QMP {}: ignoring a reply to a command this client did not send: {}", socket, preview(msg));
            return;
        }
        Pending p = pending.poll();
        if (p == null) {
            if (disconnected != null) {
                // read after the connection ended (a failed write, a close): its caller was failed already
                LOG.debug("QMP {}: ignoring a reply read after the connection ended: {}", socket, preview(msg));
            } else {
                LOG.warn("QMP {}: ignoring a reply nobody waits for: {}", socket, preview(msg));
            }
            return;
        }
        long took = System.nanoTime() - p.sentNanos();
        // the sink in place when the reply came, read before the caller runs again (and may install another)
        RoundTrips sink = roundTrips;
        JsonNode err = msg.get("error");
        if (err != null) {
            VmmException refused = new VmmException(p.command(), err.path("class").asText("GenericError"),
                    err.path("desc").asText(""));
            p.reply().completeExceptionally(refused);
            if (negotiationReply) {
                // QEMU would refuse every command queued behind it as one sent before negotiating
                disconnect(new VmmUnavailableException(Reason.PROTOCOL_ERROR, "QEMU on " + socket
                        + " refused qmp_capabilities: " + refused.getMessage()));
                channel.close();
                return;
            }
        } else {
            p.reply().complete(msg.get("return"));
        }
        // after the caller has its reply: the host's metrics sink is not on the reply's path
        try {
            sink.record(p.command(), Duration.ofNanos(took), err == null);
        } catch (RuntimeException e) {
            // a metrics sink must never cost a reply
            LOG.debug("QMP {}: round-trip sink failed: {}", socket, e.toString());
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
        Pending p;
        while ((p = pending.poll()) != null) {
            p.reply().completeExceptionally(cause);
        }
    }

    private static HvspiException failure(Throwable t) {
        RuntimeException r = Replies.rethrow(t);
        return r instanceof HvspiException h ? h : new HvspiException(String.valueOf(r), r);
    }

    private static VmmUnavailableException copy(VmmUnavailableException u, String command) {
        String msg = command == null ? u.getMessage() : command + ": " + u.getMessage();
        return new VmmUnavailableException(u.reason(), msg, u);
    }

    private static String preview(JsonNode msg) {
        String s = msg.toString();
        return s.length() > 120 ? s.substring(0, 120) + "... (" + s.length() + " characters)" : s;
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

        /** Set once the end was queued: nothing is delivered after it. Guarded by this. */
        private boolean ended;

        synchronized void deliver(QmpEvent event) {
            if (!ended) {
                submit(() -> listener.onEvent(event));
            }
        }

        void disconnect(VmmUnavailableException cause) {
            synchronized (this) {
                if (ended) {
                    return;
                }
                ended = true;
                submit(() -> listener.onDisconnect(cause));
                queue.shutdown();
            }
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
            synchronized (this) {
                ended = true;
            }
            subscriptions.remove(this);
            queue.shutdownNow();
        }
    }
}
