package io.hvspi.plugin.qemu.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sending on the non-blocking socket: an interrupted caller keeps the connection, and
 * waits for the reply to a command it sent (QEMU runs it whether or not anyone waits),
 * keeping its interrupt; a peer that stops reading times a send out instead of hanging it.
 */
class QmpSendTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    private FakeQmpServer server;

    @BeforeEach
    void server() {
        server = new FakeQmpServer(dir.resolve("qmp.sock"), FakeQmpServer.GREETING_7_2)
                .reply("query-status", FakeQmpServer.JSON.createObjectNode().put("status", "paused"));
    }

    private final CountDownLatch release = new CountDownLatch(1);

    @AfterEach
    void close() {
        Thread.interrupted();
        release.countDown();
        server.close();
    }

    @Test
    void aCommandFromAnInterruptedThreadIsSentAndTheConnectionStays() {
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT)) {
            Thread.currentThread().interrupt();
            assertEquals("paused", qmp.execute("query-status").path("status").asText());
            assertTrue(Thread.interrupted(), "the interrupt is kept");
            assertTrue(qmp.isConnected());
            assertEquals("paused", qmp.execute("query-status").path("status").asText());
        }
    }

    @Test
    void aCallerInterruptedWhileWaitingStillGetsTheReply() throws Exception {
        CountDownLatch asked = new CountDownLatch(1);
        CountDownLatch answer = new CountDownLatch(1);
        server.on("device_add", (req, conn) -> {
            asked.countDown();
            try {
                answer.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            conn.reply(req, FakeQmpServer.JSON.createObjectNode());
        });
        try (QmpClient qmp = QmpClient.connect(server.socket(), TIMEOUT)) {
            AtomicReference<Object> outcome = new AtomicReference<>();
            AtomicBoolean stillInterrupted = new AtomicBoolean();
            Thread caller = Thread.ofPlatform().start(() -> {
                try {
                    outcome.set(qmp.execute("device_add", QmpClient.args().put("id", "d0")).toString());
                } catch (RuntimeException e) {
                    outcome.set(e);
                }
                stillInterrupted.set(Thread.currentThread().isInterrupted());
            });
            assertTrue(asked.await(5, TimeUnit.SECONDS));
            caller.interrupt();
            answer.countDown();
            caller.join(TimeUnit.SECONDS.toMillis(10));
            assertEquals("{}", outcome.get(), "the reply QEMU sent, not an error");
            assertTrue(stillInterrupted.get(), "the interrupt is kept");
            assertTrue(qmp.isConnected());
            assertEquals(0, qmp.pendingCount());
        }
    }

    @Test
    @Timeout(30)
    void aPeerThatStopsReadingTimesTheSendOutAndEndsTheConnection() {
        server.on("stall", (req, conn) -> {
            try {
                release.await(); // stops reading the socket until the test ends
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        try (QmpClient qmp = QmpClient.connect(server.socket(), Duration.ofMillis(500))) {
            assertThrows(VmmUnavailableException.class, () -> qmp.execute("stall"));
            // far more than the socket buffers hold, so the send cannot finish
            String big = "x".repeat(16 << 20);
            long t0 = System.nanoTime();
            VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                    () -> qmp.execute("device_add", QmpClient.args().put("id", big)));
            assertEquals(Reason.TIMED_OUT, e.reason());
            assertTrue(e.getMessage().contains("has not read its QMP socket"), e.getMessage());
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(10), "bounded by the timeout");
            assertFalse(qmp.isConnected(), "half a message went out: the stream cannot be resumed");
            assertEquals(0, qmp.pendingCount());
        }
    }
}
