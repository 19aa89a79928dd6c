package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.qemu.state.Intent;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A VM's record is data, not authority (real QEMU 7.2): a QMP socket replaced by a
 * symbolic link to another VM's, a socket or runtime directory named elsewhere,
 * and a pid that belongs to another process are refused with one line naming the
 * field, and nothing is signalled or attached to the wrong VM.
 */
class RecordsAreDataTest {
    @TempDir
    Path tmp;

    private final List<QemuHypervisor> started = new ArrayList<>();
    private final List<Process> others = new ArrayList<>();
    private DefaultHostContext host;

    private QemuHypervisor start(String vmId) {
        host = TestVms.host(tmp);
        QemuHypervisor vm = (QemuHypervisor) new QemuHypervisorFactory().create(TestVms.spec(vmId, 1,
                IOThreadPolicy.FIRST), host);
        vm.start();
        started.add(vm);
        return vm;
    }

    @AfterEach
    void stopAll() {
        others.forEach(p -> {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        });
        for (QemuHypervisor vm : started) {
            vm.close();
            host.stateStore().load(vm.vmId()).ifPresent(r -> {
                ProcessHandle.of(r.pid()).ifPresent(ProcessHandle::destroyForcibly);
            });
        }
    }

    private VmRecord record(String vmId) {
        return host.stateStore().load(vmId).orElseThrow();
    }

    @Test
    void aQmpSocketReplacedByASymbolicLinkToAnotherVmsIsRefused() throws Exception {
        start("a").close();
        QemuHypervisor b = start("b");
        Path socket = record("a").runtimeDir().resolve("qmp.sock");
        Files.move(socket, socket.resolveSibling("qmp.moved"));
        Files.createSymbolicLink(socket, record("b").runtimeDir().resolve("qmp.sock"));

        QemuHypervisor a = QemuHypervisor.reattach(record("a"), host);
        HvspiException e = assertThrows(HvspiException.class, () -> a.requireHotplug()
                .attach(BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build()));
        assertTrue(e.getMessage().contains("qmpSocket") && e.getMessage().contains("symbolic link"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        assertEquals(List.of(), b.requireHotplug().list());
        assertFalse(QemuTruth.devices(b).containsKey("d0"), "the disk went to the other VM");

        // the verified QEMU of 'a' can still be stopped, by signals; 'b' is untouched
        long pidA = record("a").pid();
        a.stop();
        assertTrue(ProcessHandle.of(pidA).map(h -> h.onExit().join()).isPresent() || ProcessHandle.of(pidA).isEmpty());
        assertFalse(ProcessHandle.of(pidA).map(ProcessHandle::isAlive).orElse(false));
        assertTrue(ProcessHandle.of(record("b").pid()).orElseThrow().isAlive());
        assertTrue(Files.exists(record("b").runtimeDir().resolve("qmp.sock")));
    }

    @Test
    void aQmpSocketOutsideTheRuntimeDirectoryIsRefused() {
        start("a").close();
        start("b");
        VmRecord a = record("a");
        QemuState state = QemuState.fromJson(a.pluginState());
        String other = record("b").runtimeDir().resolve("qmp.sock").toString();
        VmRecord tampered = a.withPluginState(a.pluginState().replace(state.qmpSocket(), other));
        QemuHypervisor vm = QemuHypervisor.reattach(tampered, host);
        HvspiException e = assertThrows(HvspiException.class, () -> vm.requireIoThreads().list());
        assertTrue(e.getMessage().contains("qmpSocket " + other) && e.getMessage().contains("not in the VM's runtime"
                + " directory"), e.getMessage());
        vm.close();
    }

    /** Marking the record as an endpoint VM (no process check) does not let it reach another VM's QEMU. */
    @Test
    void anEndpointRecordNamingAnotherVmsSocketIsRefused() {
        start("a").close();
        start("b");
        VmRecord a = record("a");
        QemuState state = QemuState.fromJson(a.pluginState());
        String other = record("b").runtimeDir().resolve("qmp.sock").toString();
        VmRecord tampered = a.withPluginState(a.pluginState().replace(state.qmpSocket(), other)
                .replace("\"endpoint\":false", "\"endpoint\":true"));
        assertTrue(QemuState.fromJson(tampered.pluginState()).endpoint(), "the edit took");
        HvspiException e = assertThrows(HvspiException.class, () -> QemuHypervisor.reattach(tampered, host));
        assertEquals("refusing the VM record's qmpSocket " + other + ": it is under another VM's runtime directory,"
                + " not " + a.runtimeDir(), e.getMessage());
        assertTrue(ProcessHandle.of(record("b").pid()).orElseThrow().isAlive());
    }

    @Test
    void aRuntimeDirectoryElsewhereIsRefusedAndNothingIsDeleted() throws Exception {
        start("a").close();
        Path elsewhere = Files.createDirectories(tmp.resolve("precious"));
        Files.writeString(elsewhere.resolve("keep"), "data");
        VmRecord a = record("a");
        VmRecord tampered = new VmRecord("a", a.hypervisorType(), a.pid(), elsewhere, a.createdAt(), a.pluginState());
        HvspiException e = assertThrows(HvspiException.class, () -> QemuHypervisor.reattach(tampered, host));
        assertTrue(e.getMessage().startsWith("refusing the VM record's runtimeDir " + elsewhere), e.getMessage());
        assertTrue(Files.exists(elsewhere.resolve("keep")));
        assertTrue(ProcessHandle.of(a.pid()).orElseThrow().isAlive());
    }

    @Test
    void aPidOfAnotherProcessIsNeverSignalledEvenWhenItsCommandLineNamesTheSocket() throws Exception {
        start("a").close();
        VmRecord a = record("a");
        Path socket = a.runtimeDir().resolve("qmp.sock");
        // a shell that waits, with the socket path in its argv (sleep itself would refuse the extra argument)
        Process sleep = new ProcessBuilder("/bin/sh", "-c", "sleep 600; :", "sh", socket.toString()).start();
        others.add(sleep);
        for (VmRecord tampered : List.of(
                new VmRecord("a", a.hypervisorType(), sleep.pid(), a.runtimeDir(), a.createdAt(), a.pluginState()),
                // a record of format 1 has no start time: the executable still tells sleep from QEMU
                new VmRecord("a", a.hypervisorType(), sleep.pid(), a.runtimeDir(), a.createdAt(),
                        withoutIdentity(a.pluginState())))) {
            VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                    () -> QemuHypervisor.reattach(tampered, host));
            assertTrue(e.getMessage().contains("pid " + sleep.pid()), e.getMessage());
        }
        assertFalse(sleep.waitFor(200, TimeUnit.MILLISECONDS), "sleep was signalled");
        assertTrue(ProcessHandle.of(a.pid()).orElseThrow().isAlive(), "QEMU was signalled");
        // the real record still works
        QemuHypervisor vm = QemuHypervisor.reattach(a, host);
        vm.stop();
        assertFalse(Files.exists(a.runtimeDir()));
        assertTrue(sleep.isAlive());
    }

    @Test
    void aRecordOfFormatOneIsReattachedAndUpgraded() {
        start("a").close();
        VmRecord a = record("a");
        VmRecord old = a.withPluginState(withoutIdentity(a.pluginState()).replace("\"format\":2", "\"format\":1"));
        QemuHypervisor vm = QemuHypervisor.reattach(old, host);
        vm.close();
        QemuState now = QemuState.fromJson(record("a").pluginState());
        assertEquals(QemuState.FORMAT, now.format());
        QemuHypervisor.reattach(record("a"), host).stop();
    }

    /**
     * A record whose pin, or pin intent, is not a CPU set is refused in one line as any other
     * unreadable record is, not with the IllegalArgumentException or IndexOutOfBoundsException
     * the host reports as a plugin bug.
     */
    @Test
    void malformedPinsAreAOneLineError() {
        start("m").close();
        VmRecord m = record("m");
        QemuState s = QemuState.fromJson(m.pluginState());
        QemuState badPin = s.withPins(Map.of("indep_iothread_0", "zz"));
        QemuState noCpus = s.with(s.devices(), s.ioThreads(), List.of(Intent.pin("indep_iothread_0", "0")),
                s.nextNode());
        for (String state : List.of(badPin.toJson(), noCpus.toJson().replace("\"target\":[\"0\"]", "\"target\":[]"))) {
            HvspiException e = assertThrows(HvspiException.class,
                    () -> QemuHypervisor.reattach(m.withPluginState(state), host).close());
            assertEquals(HvspiException.class, e.getClass(), e.toString());
            assertTrue(e.getMessage().startsWith("unreadable QEMU plugin state: "), e.getMessage());
            assertTrue(e.getMessage().contains("indep_iothread_0"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
        QemuHypervisor.reattach(record("m"), host).stop();
    }

    private static String withoutIdentity(String pluginState) {
        return pluginState.replaceFirst(",\"qemu\":\\{[^}]*\\}", "");
    }
}
