package io.hvspi.core.state;

import static io.hvspi.core.state.TestProcesses.kill;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmRecord;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The proving stop against real QEMU 7.2 (TCG, paused, no guest) that cannot be
 * reached over QMP, and against tampered records: QEMU ends, or the stop fails and
 * keeps the record; nothing that is not the VM's VMM is signalled or deleted.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class VmStopperTest {
    /** Room for what must succeed in time on a busy host (QMP quit, a process spawn); the SIGSTOP test waits it out. */
    private static final Duration PLUGIN_TIMEOUT = Duration.ofSeconds(2);

    @TempDir
    Path tmp;
    Path root;
    Path dir;
    JsonVmStateStore store;
    VmStopper stopper;
    Process qemu;
    final List<Process> others = new ArrayList<>();
    final List<AutoCloseable> closeLater = new ArrayList<>();

    @BeforeEach
    void startQemu() throws Exception {
        root = tmp.resolve("run").toAbsolutePath();
        DefaultHostContext host = new DefaultHostContext(root, Duration.ofSeconds(1), Map.of());
        store = (JsonVmStateStore) host.stateStore();
        stopper = new VmStopper(store, PLUGIN_TIMEOUT, Duration.ofSeconds(2));
        dir = host.createRuntimeDir("vm1");
        qemu = TestProcesses.qemu(dir);
        store.save(new VmRecord("vm1", "qemu", qemu.pid(), dir, Instant.now(), "{\"qmp\":\"qmp.sock\"}"));
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (AutoCloseable c : closeLater) {
            c.close();
        }
        kill(qemu);
        for (Process p : others) {
            kill(p);
        }
    }

    private VmStopper.Outcome stop(Optional<Runnable> pluginStop) {
        try (VmLock lock = VmLock.acquire(root, "vm1", Duration.ofSeconds(5))) {
            return stopper.stop(lock, pluginStop);
        }
    }

    private void assertStoppedAndCleaned() throws InterruptedException {
        // the stop proved QEMU exited (a zombie counts); the JDK's reaper may still be collecting it
        assertTrue(qemu.waitFor(30, TimeUnit.SECONDS), "QEMU is gone");
        assertFalse(Files.exists(dir), "the runtime directory is gone");
        assertTrue(store.entries().isEmpty());
    }

    /** A stand-in for the plugin's stop: QMP quit over the VM's socket, with blocking reads. */
    private Runnable qmpQuit() {
        return () -> {
            try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(dir.resolve("qmp.sock")))) {
                BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch),
                        StandardCharsets.UTF_8));
                in.readLine(); // greeting
                ch.write(ByteBuffer.wrap("{\"execute\":\"qmp_capabilities\"}\n".getBytes(StandardCharsets.UTF_8)));
                in.readLine();
                ch.write(ByteBuffer.wrap("{\"execute\":\"quit\"}\n".getBytes(StandardCharsets.UTF_8)));
                in.readLine();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        };
    }

    @Test
    void aPluginStopThatWorksNeedsNoSignal() throws Exception {
        VmStopper.Outcome o = stop(Optional.of(qmpQuit()));
        assertTrue(o.pluginStopped());
        // QEMU may still be exiting after quit answered: then it is signalled, which is also right
        assertStoppedAndCleaned();
    }

    @Test
    void aSigstoppedQemuIsKilledWhenItsPluginStopHangs() throws Exception {
        TestProcesses.signal(qemu.pid(), "STOP");
        VmStopper.Outcome o = stop(Optional.of(qmpQuit()));
        assertFalse(o.pluginStopped());
        assertEquals(List.of(qemu.pid()), o.signalled());
        assertEquals(Optional.of("no answer within 2000 ms"), o.pluginFailure());
        assertStoppedAndCleaned();
    }

    @Test
    void aRemovedQmpSocketStillEndsQemu() throws Exception {
        Files.delete(dir.resolve("qmp.sock"));
        VmStopper.Outcome o = stop(Optional.of(qmpQuit()));
        assertTrue(o.pluginFailure().isPresent());
        assertEquals(List.of(qemu.pid()), o.signalled());
        assertStoppedAndCleaned();
    }

    @Test
    void aQmpSocketHeldByAnotherClientStillEndsQemu() throws Exception {
        SocketChannel holder = SocketChannel.open(UnixDomainSocketAddress.of(dir.resolve("qmp.sock")));
        closeLater.add(holder);
        new BufferedReader(new InputStreamReader(Channels.newInputStream(holder), StandardCharsets.UTF_8)).readLine();
        VmStopper.Outcome o = stop(Optional.of(qmpQuit()));
        assertFalse(o.pluginStopped());
        assertEquals(List.of(qemu.pid()), o.signalled());
        assertStoppedAndCleaned();
    }

    @Test
    void aCorruptRecordStillStopsTheVmmFoundThroughProc() throws Exception {
        Files.writeString(store.recordFile("vm1"), "{\"vmId\":\"vm1\",\"pid\":");
        VmStopper.Outcome o = stop(Optional.empty());
        assertEquals(List.of(qemu.pid()), o.signalled());
        assertStoppedAndCleaned();
    }

    @Test
    void aPidEditedToAnotherProcessNamingTheSocketIsNeverSignalled() throws Exception {
        Process decoy = TestProcesses.sleepNaming(dir.resolve("qmp.sock").toString());
        others.add(decoy);
        String json = Files.readString(store.recordFile("vm1"));
        // both the record's pid and the recorded identity's pid now name the decoy
        Files.writeString(store.recordFile("vm1"), json.replace("\"pid\":" + qemu.pid() + ",",
                "\"pid\":" + decoy.pid() + ","));
        assertTrue(Files.readString(store.recordFile("vm1")).contains("\"vmm\":{\"pid\":" + decoy.pid()));
        VmStopper.Outcome o = stop(Optional.empty());
        assertEquals(List.of(qemu.pid()), o.signalled());
        assertTrue(decoy.isAlive(), "the decoy was not signalled");
        assertStoppedAndCleaned();
    }

    @Test
    void aRuntimeDirEditedToAnotherDirectoryIsNeverDeleted() throws Exception {
        Path precious = Files.createDirectory(tmp.resolve("precious"));
        Files.writeString(precious.resolve("data"), "keep me");
        String json = Files.readString(store.recordFile("vm1"));
        Files.writeString(store.recordFile("vm1"), json.replace(dir.toString(), precious.toString()));
        VmStopper.Outcome o = stop(Optional.empty());
        assertEquals(List.of(qemu.pid()), o.signalled());
        assertStoppedAndCleaned();
        assertEquals("keep me", Files.readString(precious.resolve("data")));
    }

    @Test
    void aRecordReplacedByADirectoryIsRemovedWithTheRestAndTheVmmEnded() throws Exception {
        Path record = store.recordFile("vm1");
        Files.delete(record);
        Files.createDirectories(record.resolve("inside"));
        VmStopper.Outcome outcome = stop(Optional.empty());
        assertEquals(List.of(qemu.pid()), outcome.signalled(), "found through /proc by its runtime directory");
        assertStoppedAndCleaned();
    }

    @Test
    void aLeftoverDirectoryWithoutARecordIsStoppedToo() throws Exception {
        Files.delete(store.recordFile("vm1"));
        VmStopper.Outcome o = stop(Optional.empty());
        assertEquals(List.of(qemu.pid()), o.signalled());
        assertStoppedAndCleaned();
    }

    @Test
    void aVmmLeftRunningKeepsTheRecordAndTheDirectoryAndFailsTheStop() throws Exception {
        // a second QEMU on the VM's directory that appears while the stop runs: the final scan must see it
        Path late = dir.resolve("late");
        Files.createDirectory(late);
        Process[] second = new Process[1];
        Runnable pluginStop = () -> {
            try {
                // start() returns after exec: its command line already names the directory
                second[0] = TestProcesses.qemuStarting(late);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        };
        try (VmLock lock = VmLock.acquire(root, "vm1", Duration.ofSeconds(5))) {
            io.hvspi.spi.HvspiException e = assertThrows(io.hvspi.spi.HvspiException.class,
                    () -> stopper.stop(lock, Optional.of(pluginStop)));
            others.add(second[0]);
            assertEquals("cannot stop VM 'vm1': VMM pid " + second[0].pid() + " (/usr/bin/qemu-system-x86_64)"
                    + " still runs after SIGTERM and SIGKILL; kept its record and " + dir, e.getMessage());
        }
        assertTrue(qemu.waitFor(30, TimeUnit.SECONDS), "the VMM found first was ended");
        assertTrue(second[0].isAlive(), "the late one was never verified, so never signalled");
        assertTrue(Files.exists(store.recordFile("vm1")), "the record is kept");
        assertTrue(Files.isDirectory(dir), "the runtime directory is kept");
    }

    @Test
    void anUnknownVmIsNotFound() {
        try (VmLock lock = VmLock.acquire(root, "nosuch", Duration.ofSeconds(5))) {
            RequestRejectedException e = assertThrows(RequestRejectedException.class,
                    () -> stopper.stop(lock, Optional.empty()));
            assertEquals(RequestRejectedException.Reason.NOT_FOUND, e.reason());
        }
        assertTrue(qemu.isAlive(), "another VM's QEMU is untouched");
    }
}
