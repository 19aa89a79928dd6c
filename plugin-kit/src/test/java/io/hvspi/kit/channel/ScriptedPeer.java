package io.hvspi.kit.channel;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** The other end of a channel under test: a Unix socket server that runs a script on the first connection. */
final class ScriptedPeer implements AutoCloseable {

    /** What the peer does with its connection; returning (or throwing) closes it. */
    interface Script {
        void run(BufferedReader in, OutputStream out) throws Exception;
    }

    final Path socket;
    private final ServerSocketChannel server;
    private final Thread thread;

    private ScriptedPeer(Path socket, ServerSocketChannel server, Script script) {
        this.socket = socket;
        this.server = server;
        this.thread = Thread.ofPlatform().name("peer").start(() -> {
            try (SocketChannel ch = server.accept()) {
                script.run(new BufferedReader(new InputStreamReader(Channels.newInputStream(ch),
                        StandardCharsets.UTF_8)), Channels.newOutputStream(ch));
            } catch (Exception e) {
                // the channel went away first
            }
        });
    }

    /** Listens on {@code dir/peer.sock}. */
    static ScriptedPeer start(Path dir, Script script) throws IOException {
        Path socket = dir.resolve("peer.sock");
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        return new ScriptedPeer(socket, server, script);
    }

    /** Writes one line and flushes it. */
    static void write(OutputStream out, String line) throws IOException {
        out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** Stops listening and waits a little for the script to end (let it go first: a latch it awaits). */
    @Override
    public void close() throws IOException, InterruptedException {
        server.close();
        thread.join(TimeUnit.SECONDS.toMillis(5));
    }
}
