package io.hvspi.core.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.state.ChildJvm;
import io.hvspi.spi.HvspiException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link HvspiHost#closeOnExit}: closed once by its owner, or by the exit hook in a real JVM's exit. */
class ClosedOnExitTest {
    @TempDir
    Path dir;

    @Test
    void theOwnersCloseClosesOnceAndAnotherCloseDoesNothing() throws Exception {
        AtomicInteger closes = new AtomicInteger();
        try (HvspiHost host = HvspiHost.builder().classpathPlugins().runtimeRoot(dir).build()) {
            ClosedOnExit registration = host.closeOnExit(closes::incrementAndGet);
            registration.close();
            registration.close();
            assertEquals(1, closes.get());
        }
    }

    @Test
    void aCheckedFailureOfTheCloseIsAnHvspiExceptionNamingTheResource() {
        try (HvspiHost host = HvspiHost.builder().classpathPlugins().runtimeRoot(dir).build()) {
            ClosedOnExit registration = host.closeOnExit(new AutoCloseable() {
                @Override
                public void close() throws IOException {
                    throw new IOException("disk gone");
                }

                @Override
                public String toString() {
                    return "the scratch disk";
                }
            });
            HvspiException e = assertThrows(HvspiException.class, registration::close);
            assertEquals("could not close the scratch disk: disk gone", e.getMessage());
        }
    }

    @Test
    void aSignalClosesWhatIsStillOpen() throws Exception {
        try (ChildJvm child = ChildJvm.start(ExitClosingMain.class, dir.toString(), "200", "wait")) {
            assertEquals("ready", child.readLine());
            child.process.destroy(); // SIGTERM
            assertTrue(child.process.waitFor(30, TimeUnit.SECONDS));
            assertEquals(143, child.process.exitValue());
        }
        assertTrue(Files.exists(dir.resolve("closed")), "the exit hook closed the resource");
    }

    /** The JVM halts once its hooks have run: the hook waits for a close the owner began, not only its own. */
    @Test
    void anExitWhileTheOwnerClosesWaitsForThatClose() throws Exception {
        try (ChildJvm child = ChildJvm.start(ExitClosingMain.class, dir.toString(), "500", "exit-while-closing")) {
            assertTrue(child.process.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, child.process.exitValue());
        }
        assertTrue(Files.exists(dir.resolve("closing")));
        assertTrue(Files.exists(dir.resolve("closed")), "the close the owner began ended before the JVM halted");
    }
}
