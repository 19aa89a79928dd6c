package io.hvspi.core.plugin;

import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Plugin code run on a thread of its own and given up past a timeout: a plugin that never
 * returns must not hold its caller (a stop, a close, the load, the kit's cleanup). The thread
 * of a call given up is interrupted and left behind; {@link TimedOut#done()} completes when it
 * returns, for a caller that must keep something (a VM's lock) until then.
 */
public final class PluginCall {
    private static final Duration LONGEST = Duration.ofDays(365);

    private PluginCall() {}

    /** How the call ended. */
    public sealed interface Outcome<T> {
        /** One line for people: what the plugin threw, or that it did not return. */
        String line();
    }

    public record Returned<T>(T value) implements Outcome<T> {
        @Override
        public String line() {
            return "returned";
        }
    }

    public record Threw<T>(Throwable thrown) implements Outcome<T> {
        /** The SPI's own errors by their message, which says what failed; anything else with its type. */
        @Override
        public String line() {
            return thrown instanceof io.hvspi.spi.HvspiException && thrown.getMessage() != null ? thrown.getMessage()
                    : PluginChecks.oneLine(thrown);
        }
    }

    /** Given up on: the call still runs; {@code done} completes when it returns or throws. */
    public record TimedOut<T>(CompletableFuture<T> done, String line) implements Outcome<T> {}

    /**
     * A throwable's type and message on one line, its {@code getMessage()} itself guarded (plugin code
     * too): how hvspi names a plugin's throwable everywhere ({@link Threw#line()} for anything but the
     * SPI's own errors).
     */
    public static String oneLine(Throwable t) {
        return PluginChecks.oneLine(t);
    }

    /** Runs {@code code} on a daemon thread named {@code threadName}, waiting up to {@code timeout}. */
    public static <T> Outcome<T> run(String threadName, Duration timeout, Callable<T> code) {
        Objects.requireNonNull(code, "code");
        CompletableFuture<T> done = new CompletableFuture<>();
        Thread t = Thread.ofPlatform().daemon().name(threadName).start(() -> {
            try {
                done.complete(code.call());
            } catch (Throwable failure) {
                done.completeExceptionally(failure);
            }
        });
        try {
            // saturated: a huge timeout neither throws nor wraps around
            long nanos = timeout.isNegative() ? 0 : timeout.compareTo(LONGEST) > 0 ? LONGEST.toNanos() : timeout.toNanos();
            return new Returned<>(done.get(nanos, TimeUnit.NANOSECONDS));
        } catch (ExecutionException e) {
            return new Threw<>(e.getCause());
        } catch (TimeoutException e) {
            t.interrupt();
            return new TimedOut<>(done, "no answer within " + timeout.toMillis() + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            t.interrupt();
            return new TimedOut<>(done, "no answer: interrupted");
        }
    }

    /** The same for code that returns nothing. */
    public static Outcome<Void> run(String threadName, Duration timeout, Runnable code) {
        Objects.requireNonNull(code, "code");
        return run(threadName, timeout, () -> {
            code.run();
            return null;
        });
    }
}
