package io.hvspi.kit.channel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class RepliesTest {
    private static final Duration LONG = Duration.ofSeconds(30);

    @Test
    void anInterruptDoesNotCutTheWaitShortAndIsKept() throws Exception {
        CompletableFuture<String> reply = new CompletableFuture<>();
        AtomicReference<String> got = new AtomicReference<>();
        AtomicBoolean flag = new AtomicBoolean();
        Thread waiter = Thread.ofPlatform().start(() -> {
            got.set(Replies.await(reply, LONG, () -> new IllegalStateException("timeout")));
            flag.set(Thread.currentThread().isInterrupted());
        });
        waiter.interrupt();
        reply.complete("done");
        waiter.join();
        assertEquals("done", got.get());
        assertTrue(flag.get());
    }

    @Test
    void noReplyInTimeIsTheCallersTimeoutError() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Replies.await(
                new CompletableFuture<>(), Duration.ofMillis(20), () -> new IllegalStateException("no reply in 20 ms")));
        assertEquals("no reply in 20 ms", e.getMessage());
    }

    @Test
    void aFailedReplyIsRethrownFreshWithItsKindKept() {
        VmmUnavailableException lost = new VmmUnavailableException(Reason.EXITED, "gone");
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                () -> Replies.await(CompletableFuture.failedFuture(lost), LONG, IllegalStateException::new));
        assertEquals(Reason.EXITED, e.reason());
        assertNotSame(lost, e);
        assertSame(lost, e.getCause());
        VmmException refused = assertThrows(VmmException.class, () -> Replies.await(
                CompletableFuture.failedFuture(new VmmException("x", "GenericError", "no")), LONG,
                IllegalStateException::new));
        assertEquals("GenericError", refused.errorClass());
    }
}
