package io.hvspi.core.host;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * A child JVM for {@link ClosedOnExitTest}: registers a resource with {@link HvspiHost#closeOnExit}
 * whose close takes {@code args[1]} ms and then writes {@code args[0]}/closed. Then, by {@code args[2]}:
 * {@code wait} prints {@code ready} and waits for a signal; {@code exit-while-closing} starts the
 * close on a thread of its own and calls {@code System.exit(0)} once it has begun.
 */
public final class ExitClosingMain {
    private ExitClosingMain() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        long closeMillis = Long.parseLong(args[1]);
        HvspiHost host = HvspiHost.builder().classpathPlugins().runtimeRoot(dir.resolve("run")).build();
        ClosedOnExit registration = host.closeOnExit(() -> {
            Files.writeString(dir.resolve("closing"), "");
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(closeMillis)); // a slow close, not a wait
            Files.writeString(dir.resolve("closed"), "");
        });
        switch (args[2]) {
            case "wait" -> {
                System.out.println("ready");
                System.out.flush();
                Thread.sleep(Long.MAX_VALUE); // until the test's signal
            }
            case "exit-while-closing" -> {
                Thread.ofPlatform().start(registration::close);
                while (!Files.exists(dir.resolve("closing"))) {
                    Thread.onSpinWait();
                }
                System.exit(0);
            }
            default -> throw new IOException("unknown mode " + args[2]);
        }
    }
}
