package io.hvspi.plugin.qemu.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Interrupted callers: the connection stays, and a command sent is waited for
 * (QEMU runs it whether or not anyone waits); the interrupt is kept for the caller.
 */
class QmpInterruptTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    private FakeQmpServer server;

    @BeforeEach
    void server() {
        server = new FakeQmpServer(dir.resolve("qmp.sock"), FakeQmpServer.GREETING_7_2)
                .reply("query-status", FakeQmpServer.JSON.createObjectNode().put("status", "paused"));
    }

    @AfterEach
    void close() {
        Thread.interrupted();
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
}
