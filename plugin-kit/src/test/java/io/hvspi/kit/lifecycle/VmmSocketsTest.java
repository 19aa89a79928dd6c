package io.hvspi.kit.lifecycle;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VmmSocketsTest {
    @TempDir
    Path tmp;

    @Test
    void aListeningSocketIsNoProofOnlyAMissingOrDeadOneIs() throws Exception {
        Path socket = tmp.resolve("vmm.sock");
        assertTrue(VmmSockets.refusesConnections(socket), "no file");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket));
            assertFalse(VmmSockets.refusesConnections(socket), "listening, though it accepts nothing");
        }
        assertTrue(Files.exists(socket));
        assertTrue(VmmSockets.refusesConnections(socket), "the file is left, nothing listens: refused");
        Path plain = Files.writeString(tmp.resolve("plain"), "not a socket");
        assertTrue(VmmSockets.refusesConnections(plain));
    }

    /**
     * A VMM that never accepts (SIGSTOP) keeps every connection in its backlog: a long wait holds one
     * and adds no more, so the backlog has room left after it; a full backlog reads as alive; and the
     * held connection ends when the listener closes, which the wait then sees as refusal.
     */
    @Test
    void aLongWaitTakesOneBacklogSlotAndSeesTheListenerClose() throws Exception {
        Path socket = tmp.resolve("stopped.sock");
        List<SocketChannel> clients = new ArrayList<>();
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket), 1); // Linux queues backlog + 1: two slots
            AtomicInteger periods = new AtomicInteger();
            assertFalse(VmmSockets.awaitRefusal(socket, Duration.ofMillis(5), () -> periods.incrementAndGet() < 20));
            SocketChannel second = SocketChannel.open(StandardProtocolFamily.UNIX);
            clients.add(second);
            second.configureBlocking(false);
            second.connect(UnixDomainSocketAddress.of(socket)); // throws EAGAIN had the wait filled the backlog

            // full now; EAGAIN is no proof of anything
            assertFalse(VmmSockets.refusesConnections(socket), "a full backlog is a VMM that is there");
            assertFalse(VmmSockets.awaitRefusal(socket, Duration.ofMillis(5), () -> false));
            for (SocketChannel c : clients) {
                c.close();
            }
            clients.clear();
        }
        Files.delete(socket);
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket), 1);
            CompletableFuture<Boolean> wait = CompletableFuture.supplyAsync(() -> {
                try {
                    return VmmSockets.awaitRefusal(socket, Duration.ofMillis(10), () -> true);
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            Thread.sleep(100); // it holds its connection in the backlog now
            assertFalse(wait.isDone());
            server.close();
            assertTrue(wait.get(5, TimeUnit.SECONDS), "the held connection ended with the listener: refused");
        }
    }
}
