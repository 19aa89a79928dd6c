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
import java.util.concurrent.locks.LockSupport;

/**
 * The baseline: a bare QMP client from the JDK alone (no JSON library, no
 * threads, no ids), talking to QEMU over the same kind of Unix socket the plugin
 * uses. It does the least a client can: write a line, read lines until the reply.
 * What hvspi does on top (ids, a reader thread, events, accounting, the state
 * file) is what the benchmark prices.
 */
final class RawQmp implements AutoCloseable {
    private final SocketChannel ch;
    private final ByteBuffer in = ByteBuffer.allocate(1 << 20);
    private final StringBuilder pending = new StringBuilder();
    /** Events read while waiting for a reply, for {@link #awaitLine}. */
    private final ArrayDeque<String> skipped = new ArrayDeque<>();
    /** The QEMU greeting, as sent. */
    final String greeting;

    private RawQmp(SocketChannel ch) {
        this.ch = ch;
        in.flip();
        this.greeting = readLine();
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
                        RawQmp qmp = new RawQmp(ch);
                        qmp.execute("{\"execute\":\"qmp_capabilities\"}");
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
        write(json);
        while (true) {
            String line = readLine();
            if (line.contains("\"return\":")) {
                return line;
            }
            if (line.contains("\"error\":")) {
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
        while (true) {
            String line = readLine();
            if (line.contains(text)) {
                return line;
            }
        }
    }

    private void write(String json) {
        ByteBuffer b = ByteBuffer.wrap((json + "\n").getBytes(StandardCharsets.UTF_8));
        try {
            while (b.hasRemaining()) {
                ch.write(b);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private String readLine() {
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
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        try {
            ch.close();
        } catch (IOException e) {
            // the benchmark is done with it
        }
    }
}
