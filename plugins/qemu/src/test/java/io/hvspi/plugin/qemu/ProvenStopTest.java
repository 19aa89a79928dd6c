package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmUnavailableException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code stop()} proves QEMU gone (real QEMU 7.2): when QMP cannot be reached
 * (QEMU stopped with SIGSTOP, its socket removed, another client holding it) the
 * verified process is ended by signals, and only then are the record and the
 * runtime directory removed. And a starter killed right after QEMU was spawned
 * leaves a record that a later process can stop, with files of mode 0600 even
 * under {@code umask 000}.
 */
class ProvenStopTest {
    private static final Duration TIMEOUT = Duration.ofMillis(1500);

    @TempDir
    Path tmp;

    private DefaultHostContext host;
    private ProcessHandle qemu;

    private VmRecord startAndLeave(String vmId) {
        host = new DefaultHostContext(tmp.resolve("run"), TIMEOUT, Map.of());
        QemuHypervisor vm = (QemuHypervisor) new QemuHypervisorFactory().create(TestVms.spec(vmId, 1,
                IOThreadPolicy.FIRST), host);
        vm.start();
        vm.close();
        VmRecord record = host.stateStore().load(vmId).orElseThrow();
        qemu = ProcessHandle.of(record.pid()).orElseThrow();
        return record;
    }

    @AfterEach
    void cleanUp() {
        if (qemu != null) {
            qemu.destroyForcibly();
        }
    }

    private void assertStoppedAndForgotten(VmRecord record) throws Exception {
        assertTrue(qemu.onExit().get(10, TimeUnit.SECONDS) != null);
        assertFalse(qemu.isAlive(), "QEMU still runs");
        assertTrue(host.stateStore().load(record.vmId()).isEmpty(), "record left");
        assertFalse(Files.exists(record.runtimeDir()), "runtime directory left");
    }

    @Test
    void stopsAQemuStoppedWithSigstop() throws Exception {
        VmRecord record = startAndLeave("sigstop");
        new ProcessBuilder("kill", "-STOP", Long.toString(qemu.pid())).start().waitFor();
        QemuHypervisor vm = QemuHypervisor.reattach(record, host);
        assertEquals(VmState.FAILED, vm.state(), "QMP cannot be reached");
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> vm.requireIoThreads().list());
        assertTrue(e.getMessage().contains("only stop works"), e.getMessage());
        vm.stop();
        assertStoppedAndForgotten(record);
    }

    @Test
    void stopsAQemuThatStopsAnsweringAfterTheReattach() throws Exception {
        VmRecord record = startAndLeave("hang");
        QemuHypervisor vm = QemuHypervisor.reattach(record, host);
        new ProcessBuilder("kill", "-STOP", Long.toString(qemu.pid())).start().waitFor();
        vm.stop();
        assertStoppedAndForgotten(record);
    }

    @Test
    void stopsAQemuWhoseSocketWasRemoved() throws Exception {
        VmRecord record = startAndLeave("nosocket");
        Files.delete(record.runtimeDir().resolve("qmp.sock"));
        QemuHypervisor vm = QemuHypervisor.reattach(record, host);
        vm.stop();
        assertStoppedAndForgotten(record);
    }

    @Test
    void stopsAQemuWhoseQmpAnotherClientHolds() throws Exception {
        VmRecord record = startAndLeave("held");
        try (SocketChannel other = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            other.connect(UnixDomainSocketAddress.of(record.runtimeDir().resolve("qmp.sock")));
            other.read(ByteBuffer.allocate(4096)); // the greeting: this client has the monitor now
            QemuHypervisor vm = QemuHypervisor.reattach(record, host);
            vm.stop();
            assertStoppedAndForgotten(record);
        }
    }

    @Test
    void aStarterKilledRightAfterTheSpawnLeavesAVmThatCanBeStopped() throws Exception {
        host = new DefaultHostContext(tmp.resolve("run"), TIMEOUT, Map.of());
        Path recordFile = tmp.resolve("run").resolve("killed").resolve("vm.json");
        Path log = tmp.resolve("child.log");
        VmRecord record;
        try (ChildJvm child = ChildJvm.start(host.runtimeRoot(), "killed", "start", log, true)) {
            assertTrue(child.awaitLine("ready", 60_000), "the child did not start (see " + log + ")");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!Files.exists(recordFile)) {
                assertTrue(System.nanoTime() < deadline, "no record within 30 s (see " + log + ")");
                LockSupport.parkNanos(100_000);
            }
            child.kill();
        }
        record = host.stateStore().load("killed").orElseThrow();
        qemu = ProcessHandle.of(record.pid()).orElseThrow();
        assertTrue(qemu.isAlive());
        for (String file : new String[] {"qemu.log", "console.log"}) {
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(
                    record.runtimeDir().resolve(file))), file + " under umask 000");
        }
        awaitFile(record.runtimeDir().resolve("qmp.sock"));
        QemuHypervisor vm = QemuHypervisor.reattach(record, host);
        for (String socket : new String[] {"qmp.sock", "console.sock", "events.sock", "intents.log"}) {
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(
                    record.runtimeDir().resolve(socket))), socket + " after a reattach");
        }
        vm.stop();
        assertStoppedAndForgotten(record);
    }

    private static void awaitFile(Path file) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!Files.exists(file)) {
            assertTrue(System.nanoTime() < deadline, file + " never appeared");
            LockSupport.parkNanos(1_000_000);
        }
    }
}
