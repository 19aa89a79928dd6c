package io.hvspi.cli.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The raw QMP client's deadlines, against a socket where the test plays QEMU: a QEMU that stops
 * answering, or an event that never comes, fails the call after the timeout with one line, instead
 * of hanging bench hotplug or bench scale for ever.
 */
class RawQmpTest {
    private static final Duration TIMEOUT = Duration.ofMillis(300);
    private static final Duration NEVER = Duration.ofSeconds(20);
    private static final String GREETING = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2,"
            + " \"major\": 7}, \"package\": \"\"}, \"capabilities\": []}}";

    @TempDir
    Path dir;

    private ServerSocketChannel server;
    private CompletableFuture<Void> qemu;

    @AfterEach
    void close() throws Exception {
        server.close();
    }

    /** A QEMU that greets (or not) and answers each command line with what {@code answer} gives (null: silence). */
    private Path qemu(boolean greets, Function<String, String> answer) throws IOException {
        Path socket = dir.resolve("qmp.sock");
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX).bind(UnixDomainSocketAddress.of(socket));
        qemu = CompletableFuture.runAsync(() -> {
            try (SocketChannel ch = server.accept()) {
                BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch),
                        StandardCharsets.UTF_8));
                if (greets) {
                    send(ch, GREETING);
                }
                String line;
                while ((line = in.readLine()) != null) {
                    String reply = answer.apply(line);
                    if (reply != null) {
                        send(ch, reply);
                    }
                }
            } catch (IOException e) {
                // the client went away
            }
        });
        return socket;
    }

    private static void send(SocketChannel ch, String line) throws IOException {
        ByteBuffer b = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8));
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    @Test
    void aCommandWithoutAReplyFailsAfterTheTimeout() throws Exception {
        Path socket = qemu(true, line -> line.contains("qmp_capabilities") || line.contains("query-status")
                ? "{\"return\": {}}" : null);
        try (RawQmp qmp = RawQmp.connect(socket, TIMEOUT)) {
            assertEquals("{\"return\": {}}", qmp.execute("{\"execute\":\"query-status\"}"));
            long t0 = System.nanoTime();
            IllegalStateException e = assertTimeoutPreemptively(NEVER, () -> assertThrows(IllegalStateException.class,
                    () -> qmp.execute("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"bench-disk\"}}")));
            long waited = System.nanoTime() - t0;
            assertEquals("raw QMP: waited 300 ms for the reply to {\"execute\":\"device_del\",\"arguments\":{\"id\":"
                    + "\"bench-disk\"}} (QEMU stopped answering?)", e.getMessage());
            assertTrue(waited >= TIMEOUT.toNanos(), "failed before its deadline: " + waited + " ns");
            // the connection is gone with it: the next call says so at once
            IllegalStateException next = assertThrows(IllegalStateException.class,
                    () -> qmp.execute("{\"execute\":\"query-status\"}"));
            assertTrue(next.getMessage().contains("timed out"), next.getMessage());
        }
    }

    @Test
    void anEventThatNeverComesFailsAfterTheTimeout() throws Exception {
        Path socket = qemu(true, line -> "{\"return\": {}}");
        try (RawQmp qmp = RawQmp.connect(socket, TIMEOUT)) {
            qmp.execute("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"bench-disk\"}}");
            IllegalStateException e = assertTimeoutPreemptively(NEVER, () -> assertThrows(IllegalStateException.class,
                    () -> qmp.awaitLine("\"device\": \"bench-disk\"")));
            assertEquals("raw QMP: waited 300 ms for an event with \"device\": \"bench-disk\" (QEMU stopped answering?)",
                    e.getMessage());
        }
    }

    @Test
    void aQemuThatNeverGreetsFailsTheConnect() throws Exception {
        Path socket = qemu(false, line -> null);
        IllegalStateException e = assertTimeoutPreemptively(NEVER, () -> assertThrows(IllegalStateException.class,
                () -> RawQmp.connect(socket, TIMEOUT)));
        assertEquals("raw QMP: waited 300 ms for the greeting (QEMU stopped answering?)", e.getMessage());
    }

    /** Many calls within their deadlines: none is failed by a deadline of an earlier one. */
    @Test
    void callsWithinTheirDeadlinesAreNotFailed() throws Exception {
        Path socket = qemu(true, line -> line.contains("device_del")
                ? "{\"timestamp\": {}, \"event\": \"DEVICE_DELETED\", \"data\": {\"device\": \"d\"}}\n{\"return\": {}}"
                : "{\"return\": {}}");
        try (RawQmp qmp = RawQmp.connect(socket, TIMEOUT)) {
            long end = System.nanoTime() + 3 * TIMEOUT.toNanos();
            int calls = 0;
            while (System.nanoTime() < end) {
                qmp.execute("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"d\"}}");
                assertTrue(qmp.awaitLine("\"device\": \"d\"").contains("DEVICE_DELETED"));
                calls++;
            }
            assertTrue(calls > 10, calls + " calls");
        }
    }
}
