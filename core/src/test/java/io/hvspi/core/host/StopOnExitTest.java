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

/**
 * The host's exit hook in real JVMs (signals, {@code System.exit}): VMs stopped, resources registered
 * with {@link HvspiHost#closeOnExit} closed after them, and neither a hung stop nor a hung close keeping
 * the JVM alive; and the registration's own close.
 */
class StopOnExitTest {
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
        try (ChildJvm child = ChildJvm.start(ExitHookMain.class, dir.toString(), "200", "wait")) {
            assertEquals("ready", child.readLine());
            child.process.destroy(); // SIGTERM
            assertTrue(child.process.waitFor(30, TimeUnit.SECONDS));
            assertEquals(143, child.process.exitValue());
        }
        assertTrue(Files.exists(dir.resolve("closed")), "the exit hook closed the resource");
    }

    /** A close that hangs is left behind after the host's command timeout: the JVM still exits. */
    @Test
    void aCloseThatHangsDoesNotKeepTheJvmFromExiting() throws Exception {
        Path err = dir.resolve("stderr");
        try (ChildJvm child = ChildJvm.start(ProcessBuilder.Redirect.to(err.toFile()), ExitHookMain.class,
                dir.toString(), "-1", "wait")) {
            assertEquals("ready", child.readLine());
            child.process.destroy(); // SIGTERM
            assertTrue(child.process.waitFor(30, TimeUnit.SECONDS), "the JVM did not exit");
            assertEquals(143, child.process.exitValue());
        }
        assertTrue(Files.exists(dir.resolve("closing")), "the hook began the close");
        assertTrue(Files.readString(err).contains("did not close within " + ExitHookMain.BOUND.toMillis()
                + " ms on exit; exiting without it"), Files.readString(err));
    }

    /**
     * A plugin whose stop never returns: the handle's stop gives up on it after three command
     * timeouts, says so naming the plugin, keeps the record (no VMM of it runs here to end), and
     * the hook still closes the resources registered after its VM.
     */
    @Test
    void aVmStopThatHangsDoesNotKeepTheJvmFromExiting() throws Exception {
        Path err = dir.resolve("stderr");
        try (ChildJvm child = ChildJvm.start(ProcessBuilder.Redirect.to(err.toFile()), ExitHookMain.class,
                dir.toString(), "0", "vm-stop-hangs")) {
            assertEquals("ready", child.readLine());
            child.process.destroy(); // SIGTERM
            assertTrue(child.process.waitFor(30, TimeUnit.SECONDS), "the JVM did not exit");
            assertEquals(143, child.process.exitValue());
        }
        assertTrue(Files.readString(err).contains("could not stop VM 'vm1' on exit: the fake plugin's stop of VM"
                + " 'vm1' gave no answer within " + ExitHookMain.VM_BOUND_BASE.multipliedBy(3).toMillis() + " ms, and"
                + " no VMM of the VM runs on this host to end by signal; its record is kept for a later stop"),
                Files.readString(err));
        assertTrue(Files.exists(dir.resolve("closed-after-vm")), "the resource was closed after the bound");
    }

    /** The JVM halts once its hooks have run: the hook waits for a close the owner began, not only its own. */
    @Test
    void anExitWhileTheOwnerClosesWaitsForThatClose() throws Exception {
        try (ChildJvm child = ChildJvm.start(ExitHookMain.class, dir.toString(), "500", "exit-while-closing")) {
            assertTrue(child.process.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, child.process.exitValue());
        }
        assertTrue(Files.exists(dir.resolve("closing")));
        assertTrue(Files.exists(dir.resolve("closed")), "the close the owner began ended before the JVM halted");
    }
}
