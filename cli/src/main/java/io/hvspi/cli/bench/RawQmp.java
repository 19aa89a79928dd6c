package io.hvspi.cli.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * The baseline: a bare QMP client from the JDK alone (no JSON library, no
 * threads, no ids), talking to QEMU over the same kind of Unix socket the plugin
 * uses. It does the least a client can: write a line, read lines until the reply.
 * What hvspi does on top (ids, a reader thread, events, accounting, the state
 * file) is what the benchmark prices.
 *
 * <p>Every call (the greeting, a command and its reply, an awaited event) has a deadline, the
 * {@code timeout} it was connected with (the host's command timeout): a QEMU that stops answering,
 * or an event that never comes, fails the call with a one-line error instead of hanging the
 * benchmark. The calling thread still does a plain blocking read; the deadline costs it two
 * atomic writes per call. One daemon thread shared by all clients ({@link Deadlines}) closes the
 * channel of a call past its deadline, which ends the blocked read.
 */
final class RawQmp implements AutoCloseable {
    /** {@link #deadline} when no call is in progress. */
    private static final long IDLE = 0;
    /** {@link #deadline} once {@link Deadlines} closed the channel of a call past its deadline. */
    private static final long EXPIRED = Long.MIN_VALUE;

    private final SocketChannel ch;
    private final ByteBuffer in = ByteBuffer.allocate(1 << 20);
    private final StringBuilder pending = new StringBuilder();
    /** Events read while waiting for a reply, for {@link #awaitLine}. */
    private final ArrayDeque<String> skipped = new ArrayDeque<>();
    private final long timeoutNanos;
    private final Duration timeout;
    /** The current call's deadline (System.nanoTime), {@link #IDLE} or {@link #EXPIRED}. */
    private final AtomicLong deadline = new AtomicLong(IDLE);
    /** The QEMU greeting, as sent. */
    final String greeting;

    private RawQmp(SocketChannel ch, Duration timeout) {
        this.ch = ch;
        this.timeout = timeout;
        this.timeoutNanos = timeout.toNanos();
        in.flip();
        Deadlines.watch(this);
        try {
            arm();
            String line = readLine("the greeting");
            disarm("the greeting");
            this.greeting = line;
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Waits for the socket, connects, reads the greeting and sends {@code qmp_capabilities}. */
    static RawQmp connect(Path socket, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                if (Files.exists(socket)) {
                    SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                    try {
                        ch.connect(UnixDomainSocketAddress.of(socket));
                        RawQmp qmp = new RawQmp(ch, timeout);
                        try {
                            qmp.execute("{\"execute\":\"qmp_capabilities\"}");
                        } catch (RuntimeException e) {
                            qmp.close(); // and off the deadline watchdog's list
                            throw e;
                        }
                        return qmp;
                    } catch (IOException e) {
                        ch.close();
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("raw QMP: no QEMU on " + socket + " within " + timeout);
            }
            LockSupport.parkNanos(100_000);
        }
    }

    /** Sends one command line and returns its reply line; events before it are skipped. */
    String execute(String json) {
        arm();
        write(json);
        while (true) {
            String line = readLine(json);
            if (line.contains("\"return\":")) {
                disarm(json);
                return line;
            }
            if (line.contains("\"error\":")) {
                disarm(json);
                throw new IllegalStateException("raw QMP: " + json + " failed: " + line);
            }
            skipped.add(line);
        }
    }

    /** Returns the first line, skipped or new, that contains {@code text} (an event). */
    String awaitLine(String text) {
        while (!skipped.isEmpty()) {
            String line = skipped.poll();
            if (line.contains(text)) {
                return line;
            }
        }
        arm();
        while (true) {
            String line = readLine(text);
            if (line.contains(text)) {
                disarm(text);
                return line;
            }
        }
    }

    /** Starts a call's deadline. */
    private void arm() {
        long d = System.nanoTime() + timeoutNanos;
        if (!deadline.compareAndSet(IDLE, d == IDLE || d == EXPIRED ? d + 1 : d)) {
            throw new IllegalStateException("raw QMP: the connection was closed after a call that timed out");
        }
    }

    /** Ends a call's deadline; a call that {@link Deadlines} ended meanwhile fails, whatever it read. */
    private void disarm(String what) {
        if (deadline.getAndSet(IDLE) == EXPIRED) {
            deadline.set(EXPIRED);
            throw timedOut(what);
        }
    }

    /** Called by {@link Deadlines}: closes the channel of a call past its deadline, once. */
    private void expireIfLate(long now) {
        long d = deadline.get();
        if (d != IDLE && d != EXPIRED && now - d > 0 && deadline.compareAndSet(d, EXPIRED)) {
            close();
        }
    }

    /** {@code what}: a command's JSON, "the greeting", or the text of an awaited event. */
    private IllegalStateException timedOut(String what) {
        what = what.startsWith("{") ? "the reply to " + what : what.startsWith("the ") ? what : "an event with " + what;
        return new IllegalStateException("raw QMP: waited " + seconds(timeout) + " for " + what
                + " (QEMU stopped answering?)");
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }

    private void write(String json) {
        ByteBuffer b = ByteBuffer.wrap((json + "\n").getBytes(StandardCharsets.UTF_8));
        try {
            while (b.hasRemaining()) {
                ch.write(b);
            }
        } catch (IOException e) {
            throw failed(json, e);
        }
    }

    private String readLine(String what) {
        try {
            while (true) {
                while (in.hasRemaining()) {
                    char c = (char) in.get();
                    if (c == '\n') {
                        String line = pending.toString();
                        pending.setLength(0);
                        return line;
                    }
                    pending.append(c);
                }
                in.clear();
                if (ch.read(in) < 0) {
                    throw new IllegalStateException("raw QMP: QEMU closed the connection");
                }
                in.flip();
            }
        } catch (IOException e) {
            throw failed(what, e);
        }
    }

    /** A read or write that failed: a timeout when {@link Deadlines} closed the channel, else the error. */
    private RuntimeException failed(String what, IOException e) {
        if (deadline.get() == EXPIRED) {
            return timedOut(what);
        }
        return new UncheckedIOException(e);
    }

    @Override
    public void close() {
        Deadlines.forget(this);
        try {
            ch.close();
        } catch (IOException e) {
            // the benchmark is done with it
        }
    }

    /**
     * The one thread that ends the calls past their deadline, for every client: it looks at each
     * open client every tenth of the shortest timeout (10 ms to 1 s), so a call fails between its
     * timeout and a tenth more. It runs only while a client is open.
     */
    private static final class Deadlines {
        private static final Set<RawQmp> CLIENTS = ConcurrentHashMap.newKeySet();
        private static Thread thread;

        static void watch(RawQmp client) {
            CLIENTS.add(client);
            synchronized (Deadlines.class) {
                if (thread == null) {
                    thread = Thread.ofPlatform().daemon().name("raw-qmp-deadlines").start(Deadlines::run);
                } else {
                    LockSupport.unpark(thread); // a shorter timeout than the others': look sooner
                }
            }
        }

        static void forget(RawQmp client) {
            CLIENTS.remove(client);
        }

        private static void run() {
            while (true) {
                long period = TimeUnit.SECONDS.toNanos(1);
                synchronized (Deadlines.class) {
                    if (CLIENTS.isEmpty()) {
                        thread = null;
                        return;
                    }
                }
                long now = System.nanoTime();
                for (RawQmp client : CLIENTS) {
                    client.expireIfLate(now);
                    period = Math.min(period, Math.max(TimeUnit.MILLISECONDS.toNanos(10), client.timeoutNanos / 10));
                }
                LockSupport.parkNanos(period);
            }
        }
    }
}
