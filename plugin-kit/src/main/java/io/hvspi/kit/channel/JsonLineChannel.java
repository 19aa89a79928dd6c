package io.hvspi.kit.channel;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.kit.lifecycle.VmmSockets;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One connection that carries newline-delimited JSON objects over a Unix socket:
 * the transport under QMP-like and bridge-like protocols. It knows nothing of
 * requests and replies; a {@link Handler} gets every object the peer sends, in
 * order, on the one thread reading the socket at the time: a caller waiting in
 * {@link #await} or {@link #readUntil} (so that a reply wakes no other thread), or,
 * while no caller waits, the channel's background reader (so that events and the
 * peer's end are read between calls).
 *
 * <p>Fault behaviour, the same for every protocol on top:
 * <ul>
 * <li>The socket is non-blocking. A blocking NIO channel closes itself when a thread
 *     inside one of its operations is interrupted, which would cut every other user
 *     of the VM off; here an interrupted sender finishes its write and keeps its
 *     interrupt status.</li>
 * <li>{@link #send} has a write timeout: a peer that stops reading fills the socket
 *     buffer, and after the timeout the channel ends with {@link Reason#TIMED_OUT}
 *     (half a line may have gone out, so the stream cannot be used again).</li>
 * <li>A line over the cap, or one that is not a JSON object, ends the channel with
 *     {@link Reason#PROTOCOL_ERROR}; end of stream (the peer exited) with
 *     {@link Reason#EXITED}, at once.</li>
 * </ul>
 * Thread-safe; writes are serialised, so lines never interleave.
 */
public final class JsonLineChannel implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(JsonLineChannel.class);
    private static final long WRITE_RETRY_NANOS = 1_000_000;

    /**
     * What the protocol on top does with what arrives. Both methods run on the thread reading
     * (the background reader or a waiting caller), never two at once; they must not block.
     */
    public interface Handler {
        /**
         * One object from the peer. Throw {@link ProtocolViolation} when it is not the protocol:
         * the channel then ends with {@link Reason#PROTOCOL_ERROR}.
         */
        void onMessage(ObjectNode message);

        /**
         * The channel ended, once: {@code byUs} when {@link #close()} ended it, else the peer
         * exited, broke the protocol or stopped reading.
         */
        void onEnd(VmmUnavailableException cause, boolean byUs);
    }

    /** Thrown by a {@link Handler} when a message is not the protocol. */
    public static final class ProtocolViolation extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public ProtocolViolation(String message) {
            super(message);
        }
    }

    /**
     * @param peer how errors name the other side, e.g. {@code "the Dragonball bridge at /run/x.sock"}
     * @param maxReadBytes the longest line read, without its newline: a longer one is a protocol error
     * @param maxWriteBytes the longest line written: a longer message is refused before anything is sent
     * @param mapper parses the JSON (its features decide how strict parsing is); its factory writes it
     */
    public record Options(String peer, int maxReadBytes, int maxWriteBytes, ObjectMapper mapper) {
        public Options {
            Objects.requireNonNull(peer, "peer");
            Objects.requireNonNull(mapper, "mapper");
            if (maxReadBytes < 1 || maxWriteBytes < 1) {
                throw new IllegalArgumentException("line caps must be positive, not " + maxReadBytes + " and "
                        + maxWriteBytes);
            }
        }

        /** The same cap both ways, as a protocol with a line limit for both sides has. */
        public static Options of(String peer, int maxLineBytes, ObjectMapper mapper) {
            return new Options(peer, maxLineBytes, maxLineBytes, mapper);
        }
    }

    private final Path socket;
    private final Options options;
    private final SocketChannel channel;
    private final Selector selector;
    private final Handler handler;
    private final Object writeLock = new Object();
    private volatile VmmUnavailableException ended;
    private volatile boolean closedByUs;

    /**
     * Whether callers read their own replies ({@link #await}); {@code -Dhvspi.channel.callerReads=false}
     * leaves every read to the background reader, as before, for comparing the two.
     */
    static final boolean CALLERS_READ = !"false".equals(System.getProperty("hvspi.channel.callerReads"));
    private static final long NO_DEADLINE = Long.MIN_VALUE;

    /** Held by the one thread that reads: the background reader, or a caller in {@link #await}. */
    private final ReentrantLock readRole = new ReentrantLock();
    /** Guarded by {@link #readRole}, as is {@link #readDeadline}. */
    private final LineReader lines;
    /** When the thread reading stops waiting for bytes ({@link #NO_DEADLINE}: the background reader). */
    private long readDeadline = NO_DEADLINE;
    /** The caller reading now, if a caller is. */
    private volatile Thread leader;
    /** Callers waiting for the socket: whoever lets go of it wakes them. */
    private final Queue<Thread> followers = new ConcurrentLinkedQueue<>();
    /** Callers in {@link #await} or {@link #readUntil}, and when the last one left. */
    private final AtomicInteger callers = new AtomicInteger();
    private volatile long lastCallerNanos;
    /** True while the background reader leaves the socket to callers; {@link IdleReaders} sets it back. */
    private volatile boolean readerAside;
    /** Set by {@link IdleReaders} while it watches this channel. */
    final AtomicBoolean watched = new AtomicBoolean();
    /** A platform thread: a virtual one's wait goes through the JDK's poller, one more hop per message. */
    private final Thread reader;

    private JsonLineChannel(Path socket, Options options, SocketChannel channel, Selector selector, Handler handler) {
        this.socket = socket;
        this.options = options;
        this.channel = channel;
        this.selector = selector;
        this.handler = handler;
        this.lines = new LineReader(new ReadableByteChannel() {
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
        }, options.maxReadBytes());
        this.reader = Thread.ofPlatform().daemon().name("json-line-reader " + socket.getFileName())
                .unstarted(this::readLoop);
    }

    /** How long {@link #connect(Path, Options, Handler)} waits for a peer whose accept backlog is full. */
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);

    /**
     * Connects and starts the background reader, waiting up to {@link #DEFAULT_CONNECT_TIMEOUT}
     * for a peer whose accept backlog is full.
     *
     * @throws VmmUnavailableException {@code EXITED} when nothing listens on {@code socket};
     *         {@code TIMED_OUT} when the peer's backlog stays full
     */
    public static JsonLineChannel connect(Path socket, Options options, Handler handler) {
        return connect(socket, options, handler, DEFAULT_CONNECT_TIMEOUT);
    }

    /**
     * Connects and starts the background reader. A peer that accepts nothing (stopped with
     * SIGSTOP, hung) keeps connections in its listener's backlog; once that is full, a blocking
     * connect to a Unix socket waits until a slot frees, which may be never. So the connect is
     * non-blocking and tried again until {@code connectTimeout}.
     *
     * @throws VmmUnavailableException {@code EXITED} when nothing listens on {@code socket};
     *         {@code TIMED_OUT} when the peer's backlog stays full for {@code connectTimeout}
     */
    public static JsonLineChannel connect(Path socket, Options options, Handler handler, Duration connectTimeout) {
        long deadline = System.nanoTime() + connectTimeout.toNanos();
        while (true) {
            SocketChannel ch;
            try {
                ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            } catch (IOException e) {
                throw new VmmUnavailableException(Reason.EXITED, "cannot open a Unix socket: " + describe(e), e);
            }
            try {
                ch.configureBlocking(false);
                if (!ch.connect(UnixDomainSocketAddress.of(socket))) {
                    while (!ch.finishConnect()) {
                        Thread.onSpinWait(); // a Unix connect completes at once or fails; not reached on Linux
                    }
                }
                Selector selector = Selector.open();
                ch.register(selector, SelectionKey.OP_READ);
                JsonLineChannel c = new JsonLineChannel(socket, options, ch, selector, handler);
                c.reader.start();
                return c;
            } catch (IOException e) {
                closeQuietly(ch);
                if (!VmmSockets.backlogFull(e) || !Files.exists(socket)) {
                    throw new VmmUnavailableException(Reason.EXITED, "cannot connect to " + options.peer() + ": "
                            + describe(e), e);
                }
                if (System.nanoTime() - deadline >= 0) {
                    throw new VmmUnavailableException(Reason.TIMED_OUT, "cannot connect to " + options.peer()
                            + " within " + connectTimeout.toMillis() + " ms: its backlog of connections is full"
                            + " (a stopped or hung VMM accepts none)", e);
                }
                LockSupport.parkNanos(10_000_000L);
            }
        }
    }

    public Path socket() {
        return socket;
    }

    /** True until the channel ends. */
    public boolean isOpen() {
        return ended == null;
    }

    /**
     * Writes one message as one line, within {@code writeTimeout}. Never cut short by an
     * interrupt (the status is kept for the caller).
     *
     * @throws IllegalArgumentException the line would pass the cap (the channel stays usable)
     * @throws VmmUnavailableException the channel has ended, or the peer read nothing for
     *         {@code writeTimeout} ({@code TIMED_OUT}; the channel is ended then)
     */
    public void send(JsonNode message, Duration writeTimeout) {
        byte[] line;
        try {
            line = encode(options.mapper().getFactory(), message);
        } catch (IOException | IllegalArgumentException e) {
            throw new IllegalArgumentException("cannot encode a message to " + options.peer() + ": "
                    + (e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage()), e);
        }
        if (line.length - 1 > options.maxWriteBytes()) {
            throw new IllegalArgumentException("a message to " + options.peer() + " is " + (line.length - 1)
                    + " bytes, over the " + options.maxWriteBytes() + "-byte line limit");
        }
        synchronized (writeLock) {
            requireOpen();
            // parkNanos returns at once while the interrupt flag is set: clear it for the write, restore it after
            boolean interrupted = Thread.interrupted();
            try {
                write(ByteBuffer.wrap(line), writeTimeout);
            } finally {
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    /**
     * The message as one line, newline included: the JSON the mapper writes for it, written by
     * walking the tree with the mapper's factory's generator. Through the mapper (a serialiser
     * provider and lookups per call) this cost as much as the socket write, on every command.
     */
    static byte[] encode(JsonFactory factory, JsonNode message) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(256);
        try (JsonGenerator g = factory.createGenerator(bytes)) {
            write(g, message);
        }
        bytes.write('\n');
        return bytes.toByteArray();
    }

    private static void write(JsonGenerator g, JsonNode node) throws IOException {
        switch (node.getNodeType()) {
            case OBJECT -> {
                g.writeStartObject();
                for (Map.Entry<String, JsonNode> field : node.properties()) {
                    g.writeFieldName(field.getKey());
                    write(g, field.getValue());
                }
                g.writeEndObject();
            }
            case ARRAY -> {
                g.writeStartArray();
                for (JsonNode element : node) {
                    write(g, element);
                }
                g.writeEndArray();
            }
            case STRING -> g.writeString(node.textValue());
            case BOOLEAN -> g.writeBoolean(node.booleanValue());
            case NULL -> g.writeNull();
            case NUMBER -> node.serialize(g, null); // each numeric node writes its own kind of number
            default -> throw new IllegalArgumentException("a " + node.getNodeType() + " node has no JSON text");
        }
    }

    private void write(ByteBuffer b, Duration writeTimeout) {
        long deadline = System.nanoTime() + writeTimeout.toNanos();
        try {
            while (b.hasRemaining()) {
                if (channel.write(b) > 0) {
                    continue;
                }
                if (System.nanoTime() - deadline > 0) {
                    VmmUnavailableException stuck = new VmmUnavailableException(Reason.TIMED_OUT, options.peer()
                            + " has not read hvspi's messages for " + writeTimeout.toMillis()
                            + " ms (write timeout); the connection is closed");
                    end(stuck);
                    throw stuck;
                }
                LockSupport.parkNanos(WRITE_RETRY_NANOS);
            }
        } catch (IOException e) {
            VmmUnavailableException gone = ended != null ? ended
                    : new VmmUnavailableException(Reason.EXITED, "cannot write to " + options.peer() + ": "
                            + describe(e), e);
            end(gone);
            throw copy(gone);
        }
    }

    /** Ends the channel; the handler hears of it with {@code byUs}. Idempotent; never throws. */
    @Override
    public void close() {
        closedByUs = true;
        end(new VmmUnavailableException(Reason.EXITED, "the connection to " + options.peer() + " was closed"));
    }

    private void requireOpen() {
        VmmUnavailableException down = ended;
        if (down != null) {
            throw copy(down);
        }
    }

    private void end(VmmUnavailableException cause) {
        synchronized (this) {
            if (ended != null) {
                return;
            }
            ended = cause;
        }
        closeQuietly(channel);
        selector.wakeup();
        LockSupport.unpark(reader);
        if (!closedByUs) {
            LOG.debug("{}: {}", socket, cause.getMessage());
        }
        try {
            handler.onEnd(cause, closedByUs);
        } catch (RuntimeException e) {
            LOG.warn("{}: handler failed on the end of the connection: {}", socket, e.toString());
        }
    }

    /**
     * Waits up to {@code timeout} for {@code reply}, reading the socket in this thread while
     * no other thread does (a leader/follower read): the reply, and whatever comes before
     * it, is read, parsed and handed to the handler here, so that no other thread wakes for
     * it. While callers wait, the background reader stays away from the socket; it comes
     * back once none has waited for {@link IdleReaders#LINGER_NANOS}, so that events and the
     * peer's end are read between calls too. Waits the way {@link Replies#await} does: an
     * interrupt does not cut the wait short, and is kept.
     *
     * @param reply completed by the handler, or failed by it when the channel ends
     */
    public <T> T await(CompletableFuture<T> reply, Duration timeout, Supplier<? extends RuntimeException> onTimeout) {
        if (!CALLERS_READ) {
            return Replies.await(reply, timeout, onTimeout);
        }
        read(reply, timeout, false);
        if (!reply.isDone()) {
            throw onTimeout.get();
        }
        return Replies.await(reply, Duration.ZERO, onTimeout);
    }

    /**
     * Reads the socket in this thread as {@link #await} does until {@code done} completes (an
     * outcome the handler's messages lead to, such as an event's), the timeout passes or the
     * thread is interrupted (the interrupt is kept); then the caller reads {@code done}.
     */
    public void readUntil(CompletableFuture<?> done, Duration timeout) {
        if (CALLERS_READ) {
            read(done, timeout, true);
            return;
        }
        try {
            done.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            // the caller reads the outcome
        }
    }

    private void read(CompletableFuture<?> done, Duration timeout, boolean interruptible) {
        if (done.isDone() || (interruptible && Thread.currentThread().isInterrupted())) {
            return;
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        // the selector returns at once while the flag is set: cleared while reading, restored after
        boolean interrupted = Thread.interrupted();
        callers.incrementAndGet();
        try {
            interrupted |= lead(done, deadline, interruptible);
        } finally {
            lastCallerNanos = System.nanoTime();
            callers.decrementAndGet();
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Reads while no other thread does, else waits for the one that does to let go or to
     * complete {@code done}; until {@code done} is done, the deadline, or (when
     * {@code interruptible}) an interrupt. True when the thread was interrupted meanwhile.
     */
    private boolean lead(CompletableFuture<?> done, long deadline, boolean interruptible) {
        Thread me = Thread.currentThread();
        // completed elsewhere (by the leader, a handler's own thread, the channel's end): wake this thread
        done.whenComplete((r, e) -> {
            if (Thread.currentThread() != me) {
                LockSupport.unpark(me);
                if (leader == me) {
                    selector.wakeup();
                }
            }
        });
        boolean interrupted = false;
        while (!done.isDone() && !(interrupted && interruptible) && System.nanoTime() - deadline < 0) {
            if (ended == null && readRole.tryLock()) {
                leader = me;
                readDeadline = deadline;
                try {
                    while (!done.isDone() && ended == null && !(interrupted && interruptible)
                            && System.nanoTime() - deadline < 0) {
                        readOne();
                        interrupted |= Thread.interrupted();
                    }
                } finally {
                    readDeadline = NO_DEADLINE;
                    leader = null;
                    leaveReadRole();
                }
                continue;
            }
            if (ended == null) {
                // the background reader holds the socket, or another caller does: the reader steps aside
                readerAside = true;
                IdleReaders.watch(this);
            }
            followers.add(me); // before the check, so that a holder letting go meanwhile sees this thread
            try {
                selector.wakeup();
                if (!done.isDone() && (ended != null || readRole.isLocked())) {
                    LockSupport.parkNanos(this, deadline - System.nanoTime());
                }
            } finally {
                followers.remove(me);
            }
            interrupted |= Thread.interrupted();
        }
        return interrupted;
    }

    /** Lets go of the socket and wakes the callers waiting for it: the first to take it reads next. */
    private void leaveReadRole() {
        readRole.unlock();
        for (Thread follower : followers) {
            LockSupport.unpark(follower);
        }
    }

    /** True when the background reader may read again: no caller waits, and none has for a while. */
    boolean idleSince(long nanos) {
        return callers.get() == 0 && nanos - lastCallerNanos >= IdleReaders.LINGER_NANOS;
    }

    /** Brings the background reader back to the socket (see {@link IdleReaders}). */
    void resumeReader() {
        readerAside = false;
        LockSupport.unpark(reader);
    }

    /** The background reader: reads while no caller does, and stays aside while callers wait. */
    private void readLoop() {
        try {
            while (ended == null) {
                if (readerAside) {
                    LockSupport.park(this);
                    continue;
                }
                readRole.lock();
                try {
                    while (ended == null && !readerAside) {
                        readOne();
                    }
                } finally {
                    leaveReadRole();
                }
            }
        } finally {
            try {
                selector.close();
            } catch (IOException e) {
                // nothing to do: the connection is gone
            }
        }
    }

    /** Reads one line, or waits until bytes come, a wake-up or the deadline; hands what it read on. */
    private void readOne() {
        try {
            byte[] line = lines.readLine();
            if (line == null) {
                end(new VmmUnavailableException(Reason.EXITED, options.peer()
                        + " closed the connection (did it exit?)"));
            } else if (line != LineReader.NO_LINE && !isBlank(line)) {
                handler.onMessage(parse(line));
            }
        } catch (LineReader.LineTooLongException e) {
            end(protocolError(options.peer() + " sent " + e.getMessage()));
        } catch (ProtocolViolation e) {
            end(protocolError(e.getMessage()));
        } catch (IOException | ClosedSelectorException e) {
            // a closed selector: the background reader ended after the channel did
            end(new VmmUnavailableException(Reason.EXITED, "lost " + options.peer() + ": "
                    + (e instanceof IOException io ? describe(io) : "the connection was closed"), e));
        } catch (RuntimeException e) {
            LOG.error("reader for {} failed", socket, e);
            end(new VmmUnavailableException(Reason.PROTOCOL_ERROR, "the reader for " + options.peer() + " failed: "
                    + e, e));
        }
    }

    /**
     * A read on the non-blocking socket that waits on the selector while there is nothing to
     * read: until bytes come, a wake-up, or the reading thread's deadline (then 0).
     */
    private int readWaiting(ByteBuffer into) throws IOException {
        int n = channel.read(into);
        if (n != 0) {
            return n;
        }
        if (readDeadline == NO_DEADLINE) {
            selector.select();
        } else {
            long left = readDeadline - System.nanoTime();
            if (left <= 0) {
                return 0;
            }
            selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left + 999_999)));
        }
        selector.selectedKeys().clear();
        if (!channel.isOpen()) {
            throw new AsynchronousCloseException();
        }
        return channel.read(into);
    }

    private ObjectNode parse(byte[] line) {
        JsonNode node;
        try {
            node = options.mapper().readTree(line);
        } catch (IOException e) {
            throw new ProtocolViolation(options.peer() + " sent a line that is not JSON: " + preview(line));
        }
        if (node instanceof ObjectNode object) {
            return object;
        }
        throw new ProtocolViolation(options.peer() + " sent a line that is not a JSON object: " + preview(line));
    }

    private static VmmUnavailableException protocolError(String message) {
        return new VmmUnavailableException(Reason.PROTOCOL_ERROR, message);
    }

    /** A fresh exception, so that the stack trace shows the caller. */
    private static VmmUnavailableException copy(VmmUnavailableException u) {
        return new VmmUnavailableException(u.reason(), u.getMessage(), u);
    }

    /** The start of a line, for error messages. */
    public static String preview(byte[] line) {
        String s = new String(line, 0, Math.min(line.length, 200), StandardCharsets.UTF_8);
        return line.length > 200 ? s + "... (" + line.length + " bytes)" : s;
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

    private static void closeQuietly(SocketChannel ch) {
        try {
            ch.close();
        } catch (IOException e) {
            // nothing to do: the connection is being abandoned
        }
    }
}
