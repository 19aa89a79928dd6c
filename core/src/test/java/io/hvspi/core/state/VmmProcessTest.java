package io.hvspi.core.state;

import static io.hvspi.core.state.TestProcesses.kill;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Process identity against real processes: QEMU 7.2 and decoys that name its runtime directory. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class VmmProcessTest {
    @TempDir
    Path tmp;

    @Test
    void identityIsPidStartTimeAndExecutable() throws Exception {
        Process p = TestProcesses.sleepNaming();
        try {
            VmmIdentity id = VmmIdentity.ofPid(p.pid()).orElseThrow();
            assertEquals(p.pid(), id.pid());
            assertTrue(id.startTime() > 0);
            assertTrue(id.exe().getFileName().toString().contains("sh"), id.exe().toString());
            assertEquals(id, VmmIdentity.ofPid(p.pid()).orElseThrow());
        } finally {
            kill(p);
        }
        assertEquals(Optional.empty(), VmmIdentity.ofPid(p.pid()));
    }

    @Test
    void verifyTellsTheRecordedProcessFromAReusedPidAndFromALie() throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("vm1"));
        Process p = TestProcesses.sleepNaming(dir.resolve("qmp.sock").toString());
        VmmIdentity id = VmmIdentity.ofPid(p.pid()).orElseThrow();
        try {
            assertEquals(VmmProcess.Verdict.SAME, new VmmProcess(id, dir).verify());
            // another start time: the recorded process ended and the pid was reused
            assertEquals(VmmProcess.Verdict.GONE,
                    new VmmProcess(new VmmIdentity(id.pid(), id.startTime() - 1, id.exe()), dir).verify());
            // same process, but the record claims another binary or another directory
            assertEquals(VmmProcess.Verdict.MISMATCH, new VmmProcess(
                    new VmmIdentity(id.pid(), id.startTime(), Path.of("/usr/bin/qemu-system-x86_64")), dir).verify());
            assertEquals(VmmProcess.Verdict.MISMATCH, new VmmProcess(id, tmp.resolve("vm2")).verify());
        } finally {
            kill(p);
        }
        assertEquals(VmmProcess.Verdict.GONE, new VmmProcess(id, dir).verify());
    }

    @Test
    void aCommandLineRefersToADirectoryOnlyThroughAWholePathValue() {
        Path dir = Path.of("/run/hvspi/vm1");
        assertTrue(refers("-chardev", "socket,id=qmp,path=/run/hvspi/vm1/qmp.sock,server=on,wait=off"));
        assertTrue(refers("-qmp", "unix:/run/hvspi/vm1/qmp.sock,server=on"));
        assertTrue(refers("/run/hvspi/vm1"));
        assertTrue(refers("--api-socket", "path=/run/hvspi/vm1/api.sock"));
        assertFalse(refers("/run/hvspi/vm10/qmp.sock"), "a sibling whose name starts alike");
        assertFalse(refers("/x/run/hvspi/vm1/qmp.sock"), "the directory in the middle of another path");
        assertFalse(refers("sleep 1; ls /run/hvspi/vm1"), "a shell string");
        assertFalse(refers("/run/hvspi/vm1/../vm2/qmp.sock"), "a path that leaves the directory");
        assertFalse(refers("--label=x/run/hvspi/vm1"));
        assertFalse(VmmProcess.refersTo(List.of("/run/hvspi/vm1/qemu"), dir), "argv[0] is the program, not an argument");
        assertTrue(VmmProcess.refersTo(List.of("qemu", "file,path=/run/a,,b/vm1/x"), Path.of("/run/a,b/vm1")),
                "',,' is a literal comma");
    }

    private static boolean refers(String... args) {
        List<String> argv = new java.util.ArrayList<>(List.of("qemu-system-x86_64"));
        argv.addAll(List.of(args));
        return VmmProcess.refersTo(argv, Path.of("/run/hvspi/vm1"));
    }

    @Test
    void aScanFindsTheQemuOfARuntimeDirectoryAndNoDecoy() throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("vm1"));
        Path other = Files.createDirectory(tmp.resolve("vm10"));
        Process qemu = TestProcesses.qemu(dir);
        Process otherQemu = TestProcesses.qemu(other);
        Process decoy = TestProcesses.sleepNaming(dir.resolve("qmp.sock").toString());
        try {
            List<VmmProcess> found = VmmProcess.findByRuntimeDir(dir, Optional.empty());
            assertEquals(List.of(qemu.pid()), found.stream().map(v -> v.identity().pid()).toList());
            assertTrue(VmmProcess.isPlausibleVmm(found.get(0).identity().exe()));
            // the recorded executable narrows the scan: the decoy's shell is found only when asked for
            Path shell = VmmIdentity.ofPid(decoy.pid()).orElseThrow().exe();
            assertEquals(List.of(decoy.pid()), VmmProcess.findByRuntimeDir(dir, Optional.of(shell)).stream()
                    .map(v -> v.identity().pid()).toList());
        } finally {
            kill(qemu);
            kill(otherQemu);
            kill(decoy);
        }
        assertEquals(List.of(), VmmProcess.findByRuntimeDir(dir, Optional.empty()));
    }

    @Test
    void terminateEndsASigstoppedQemuAndProvesItGone() throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("vm1"));
        Process qemu = TestProcesses.qemu(dir);
        try {
            TestProcesses.signal(qemu.pid(), "STOP"); // SIGTERM stays pending: only SIGKILL ends it
            VmmProcess vmm = new VmmProcess(VmmIdentity.ofPid(qemu.pid()).orElseThrow(), dir);
            assertTrue(vmm.terminate(Duration.ofMillis(300)));
            assertEquals(VmmProcess.Verdict.GONE, vmm.verify());
            assertTrue(qemu.waitFor(30, TimeUnit.SECONDS), "exited (the JDK may still be reaping it)");
        } finally {
            kill(qemu);
        }
    }

    @Test
    void terminateNeverSignalsAProcessThatIsNotTheRecordedVmm() throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("vm1"));
        Process decoy = TestProcesses.sleepNaming(dir.resolve("qmp.sock").toString());
        try {
            VmmIdentity real = VmmIdentity.ofPid(decoy.pid()).orElseThrow();
            VmmIdentity claimed = new VmmIdentity(real.pid(), real.startTime(), Path.of("/usr/bin/qemu-system-x86_64"));
            assertFalse(new VmmProcess(claimed, dir).terminate(Duration.ofMillis(100)));
            assertTrue(decoy.isAlive(), "a process that is not the recorded VMM is never signalled");
        } finally {
            kill(decoy);
        }
    }

    @Test
    void aRecordSavedBeforeTheVmmExecdGetsTheVmmsIdentityAtTheNextSave() throws Exception {
        // a plugin saves its record right after spawning: the process may still be a wrapper (here a shell
        // waiting for a line, then exec'ing QEMU under the same pid); the store must not keep that identity
        DefaultHostContext host = new DefaultHostContext(tmp.resolve("run"), Duration.ofSeconds(1), java.util.Map.of());
        Path dir = host.createRuntimeDir("wrapped");
        Process wrapper = new ProcessBuilder("sh", "-c", "read go; exec " + TestProcesses.QEMU
                + " -machine q35 -accel tcg -S -display none -nodefaults -no-user-config -qmp unix:"
                + dir.resolve("qmp.sock") + ",server=on,wait=off").start();
        try {
            JsonVmStateStore store = (JsonVmStateStore) host.stateStore();
            io.hvspi.spi.VmRecord record = new io.hvspi.spi.VmRecord("wrapped", "qemu", wrapper.pid(), dir,
                    java.time.Instant.now(), "{}");
            store.save(record);
            VmmIdentity launcher = ((VmEntry.Recorded) store.entries().get(0)).identity().orElseThrow();
            assertFalse(launcher.exe().getFileName().toString().startsWith("qemu"), "still the shell at first");
            wrapper.getOutputStream().write('\n');
            wrapper.getOutputStream().flush();
            TestProcesses.awaitTrue(() -> Files.exists(dir.resolve("qmp.sock")), Duration.ofSeconds(30));
            store.save(record);
            assertEquals(TestProcesses.QEMU, exeOf(store).getFileName().toString());
            assertTrue(((VmEntry.Recorded) store.entries().get(0)).vmmAlive(),
                    "the VMM is seen alive");
            // a record left with the launcher's identity (its writer killed before the next save) still
            // proves the VMM: the same pid and start time, exec'd into a VMM
            assertTrue(new VmmProcess(launcher, dir).isAlive(), "the launcher's identity proves the exec'd VMM");
            assertEquals(VmmProcess.Verdict.MISMATCH, new VmmProcess(new VmmIdentity(launcher.pid(),
                    launcher.startTime(), Path.of("/usr/bin/qemu-system-aarch64")), dir).verify(),
                    "a VMM recorded as another VMM binary is not this one");
        } finally {
            kill(wrapper);
        }
    }

    private static Path exeOf(JsonVmStateStore store) {
        return ((VmEntry.Recorded) store.entries().get(0)).identity().orElseThrow().exe();
    }
}
