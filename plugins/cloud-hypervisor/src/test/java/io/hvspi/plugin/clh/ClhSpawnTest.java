package io.hvspi.plugin.clh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.spi.HostThreads.Role;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.sim.clh.ClhSimulatorMain;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The spawn path: the plugin starts a "cloud-hypervisor" binary with its
 * argument list, waits for it, and shuts it down. The binary is a script that
 * runs the simulator as a process with Cloud Hypervisor's command line
 * ({@link ClhSimulatorMain}), so pids, /proc and exits are real.
 */
class ClhSpawnTest {
    @TempDir
    Path tmp;

    private Hypervisor vm;

    @AfterEach
    void stop() {
        if (vm != null) {
            vm.stop();
        }
    }

    private Path script(String name, String body) throws IOException {
        Path file = tmp.resolve(name);
        Files.writeString(file, "#!/bin/sh\n" + body + "\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwx------"));
        return file;
    }

    /** A stand-in binary: exec java with this test's class path and the simulator's main class. */
    private Path simulatorBinary() throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return script("cloud-hypervisor", "exec '" + java + "' -cp '" + System.getProperty("java.class.path") + "' "
                + ClhSimulatorMain.class.getName() + " \"$@\"");
    }

    private Hypervisor start(Path binary, String vmId, DefaultHostContext host) throws IOException {
        Path kernel = Files.writeString(tmp.resolve("vmlinux"), "kernel");
        vm = new ClhHypervisorFactory().create(TestVms.spec(vmId, binary, Optional.of(kernel), 2, Map.of()), host);
        vm.start();
        return vm;
    }

    @Test
    void theVmmIsSpawnedWithItsApiSocketInTheRuntimeDirAndExitsOnStop() throws Exception {
        DefaultHostContext host = new DefaultHostContext(tmp.resolve("run"), Duration.ofSeconds(10), Map.of());
        Hypervisor vm = start(simulatorBinary(), "spawn1", host);
        assertEquals(VmState.RUNNING, vm.state());
        VmRecord record = host.stateStore().load("spawn1").orElseThrow();
        Path socket = record.runtimeDir().resolve(ClhHypervisor.SOCKET_NAME);
        List<String> argv = Arrays.asList(Files.readString(Path.of("/proc", Long.toString(record.pid()), "cmdline"))
                .split("\0"));
        assertEquals(List.of("--api-socket", "path=" + socket), argv.subList(argv.size() - 2, argv.size()),
                "an argument list with the socket in the VM's runtime directory");
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)));
        assertEquals(record.pid(), vm.hostThreads().pid());
        assertEquals(2, vm.hostThreads().withRole(Role.VCPU).size(), "the vCPU threads of the spawned process");

        try (Hypervisor again = new ClhHypervisorFactory().reattach(record, host)) {
            assertEquals(VmState.RUNNING, again.state());
            assertEquals(record.pid(), again.hostThreads().pid());
        }

        CountDownLatch exited = new CountDownLatch(1);
        vm.subscribe(e -> {
            if (VmEvent.VMM_EXITED.equals(e.name())) {
                exited.countDown();
            }
        });
        ProcessHandle process = ProcessHandle.of(record.pid()).orElseThrow();
        vm.stop();
        assertFalse(process.isAlive(), "vmm.shutdown ended the process");
        assertTrue(exited.await(5, TimeUnit.SECONDS), "VMM_EXITED delivered");
        assertFalse(Files.exists(record.runtimeDir()));
    }

    @Test
    void aVmmThatDiesIsReportedAsFailedWithAnEvent() throws Exception {
        DefaultHostContext host = new DefaultHostContext(tmp.resolve("run"), Duration.ofSeconds(10), Map.of());
        Hypervisor vm = start(simulatorBinary(), "spawn2", host);
        CountDownLatch exited = new CountDownLatch(1);
        vm.subscribe(e -> exited.countDown());
        ProcessHandle.of(host.stateStore().load("spawn2").orElseThrow().pid()).orElseThrow().destroyForcibly();
        assertTrue(exited.await(10, TimeUnit.SECONDS), "VMM_EXITED delivered");
        assertEquals(VmState.FAILED, vm.state());
    }

    @Test
    void aBinaryThatExitsAtOnceFailsStartWithItsLastWords() throws Exception {
        DefaultHostContext host = new DefaultHostContext(tmp.resolve("run"), Duration.ofSeconds(10), Map.of());
        Path broken = script("broken-clh", "echo 'Error: cannot open /dev/kvm: No such file or directory' >&2\nexit 1");
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> start(broken, "spawn3", host));
        assertEquals(VmmUnavailableException.Reason.EXITED, e.reason());
        assertTrue(e.getMessage().contains("cannot open /dev/kvm"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("run/spawn3")), "no runtime directory left");
        vm = null;
    }

}
