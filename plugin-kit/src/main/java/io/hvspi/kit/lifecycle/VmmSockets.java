package io.hvspi.kit.lifecycle;

import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.BooleanSupplier;

/**
 * What a VMM's Unix socket says about the VMM, for a plugin that reaches a VMM it did
 * not spawn ("endpoint" mode) and so has no process to watch or signal.
 *
 * <p>A connection the VMM has not accepted waits in its listener's accept backlog, and
 * stays there after the client closes it, until the VMM accepts it or closes the listener.
 * So every probe of a VMM that does not accept (stopped with SIGSTOP, hung) takes a backlog
 * slot for good; once the backlog is full, a connect fails with {@code EAGAIN} and adds
 * nothing. {@link #refusesConnections} reads that as alive. A watcher that checks for a long
 * time uses {@link #awaitRefusal}, which holds one connection instead of making one a period.
 */
public final class VmmSockets {
    private VmmSockets() {}

    /**
     * True when nothing listens on {@code socket} any more: the file is gone, or a
     * connection is refused. That is proof the VMM that served it ended (or closed
     * its socket). A socket that accepts, or whose connect does not complete at once
     * (a full backlog: a stopped or busy VMM), is not. Never blocks; never throws.
     * Each call that connects takes a slot of the backlog of a VMM that does not accept.
     */
    public static boolean refusesConnections(Path socket) {
        Attempt attempt = connect(socket);
        attempt.close();
        return attempt.refused;
    }

    /**
     * Waits until nothing listens on {@code socket} (true) or {@code keepWaiting} turns false
     * (false), looking every {@code period}. It holds one connection open rather than connecting
     * once a period: that connection ends when the VMM closes it or closes its listener (one that
     * still waits in the backlog ends then too), and only then does it connect again. So a VMM that
     * does not accept has at most one of its connections in the backlog, however long this waits. A
     * connect that fails because the backlog is full already adds nothing and is tried next period.
     * The held connection sends nothing; a VMM that accepts it keeps an idle connection meanwhile.
     * Each period it also looks whether the socket file is still there. What it does not see: a VMM
     * that closed its listener but keeps the accepted connection open, with the file left behind.
     *
     * @throws InterruptedException when the thread is interrupted while it waits (the connection is closed)
     */
    public static boolean awaitRefusal(Path socket, Duration period, BooleanSupplier keepWaiting)
            throws InterruptedException {
        Attempt held = null;
        try {
            while (true) {
                if (!Files.exists(socket)) {
                    return true; // as refusesConnections: nothing can be reached there (checked without connecting)
                }
                if (held != null && held.ended()) {
                    held.close(); // it left the backlog: the VMM accepted and closed it, or closed its listener
                    held = null;
                }
                if (held == null) {
                    Attempt attempt = connect(socket);
                    if (attempt.refused) {
                        return true;
                    }
                    held = attempt.channel == null ? null : attempt; // null: the backlog was full, nothing added
                }
                if (!keepWaiting.getAsBoolean()) {
                    return false;
                }
                Thread.sleep(period);
            }
        } finally {
            if (held != null) {
                held.close();
            }
        }
    }

    /**
     * Whether {@code failure} (or one of its causes) is a connect that failed with {@code EAGAIN}, which
     * a Unix listener whose accept backlog is full gives: something listens, it accepts nothing now.
     */
    public static boolean backlogFull(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            String message = t.getMessage();
            if (t instanceof java.net.SocketException && !(t instanceof ConnectException) && message != null
                    && (message.contains("Resource temporarily unavailable") || message.contains("EAGAIN"))) {
                return true;
            }
        }
        return false;
    }

    /** One connect: refused (proof), or a connection (accepted or waiting in the backlog), or neither (a full backlog). */
    private static Attempt connect(Path socket) {
        SocketChannel ch = null;
        try {
            ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            ch.configureBlocking(false);
            ch.connect(UnixDomainSocketAddress.of(socket));
            return new Attempt(false, ch); // connected, or pending: something listens
        } catch (ConnectException | NoSuchFileException e) {
            close(ch);
            return new Attempt(true, null);
        } catch (IOException | RuntimeException e) {
            close(ch);
            // EAGAIN (a full backlog) is alive; ENOENT arrives as a SocketException on some JDKs: the file test settles it
            return new Attempt(!Files.exists(socket), null);
        }
    }

    private static void close(SocketChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException e) {
                // nothing to do
            }
        }
    }

    private record Attempt(boolean refused, SocketChannel channel) {
        /** True once the connection ended (end of stream, reset); never blocks. Anything the peer sent is dropped. */
        boolean ended() {
            try {
                if (channel.isConnectionPending() && !channel.finishConnect()) {
                    return false;
                }
                return channel.read(ByteBuffer.allocate(512)) < 0;
            } catch (IOException | RuntimeException e) {
                return true;
            }
        }

        void close() {
            VmmSockets.close(channel);
        }
    }
}
