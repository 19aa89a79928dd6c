package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.host.HvspiHost;
import io.hvspi.core.host.LoadedConfig;
import io.hvspi.core.host.VmHandle;
import io.hvspi.core.state.VmEntry;
import io.hvspi.core.state.VmStopper;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.core.state.VmEntry;
import io.hvspi.core.state.VmStopper;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The host API an embedder uses, on real QEMU 7.2 (tcg, no guest) with the distribution's plugins and config. */
class HostApiIT {
    @TempDir
    Path runtime;

    private HvspiHost host(Duration lockTimeout) {
        return HvspiHost.builder().pluginsDir(HvctlRunner.home().resolve("plugins")).runtimeRoot(runtime)
                .lockTimeout(lockTimeout).build();
    }

    @Test
    void startHotplugListStopThenReattachFromASecondHost() throws Exception {
        String id = "hostapi-it";
        try (HvspiHost first = host(Duration.ofSeconds(10))) {
            LoadedConfig config = first.loadConfig(HvctlRunner.home().resolve("etc/configuration.toml"));
            assertEquals("qemu", config.hypervisorType());
            assertEquals(4, config.poolSize());
            try (VmHandle vm = first.start(config.spec(id).toBuilder().accel("tcg").build())) {
                for (String disk : List.of("disk0", "disk1")) {
                    vm.hotplug().attach(BlockDeviceSpec.builder(disk, BlockBackend.nullBackend()).build());
                }
                List<IOThreadInfo> threads = vm.ioThreads().list();
                assertEquals(4, threads.size());
                long pid = vm.hostThreads().pid();
                for (IOThreadInfo t : threads) {
                    long tid = t.hostThreadId().orElseThrow();
                    assertTrue(Files.isDirectory(Path.of("/proc", Long.toString(pid), "task", Long.toString(tid))),
                            t + " names a thread of QEMU " + pid);
                }
                assertEquals(2, threads.stream().mapToInt(IOThreadInfo::load).sum());
                vm.keepRunning();
            }

            try (HvspiHost second = host(Duration.ofSeconds(10)); VmHandle again = second.reattach(id)) {
                assertFalse(again.startedHere());
                assertEquals(List.of("disk0", "disk1"), again.hotplug().list().stream().map(d -> d.id()).toList());
                assertTrue(List.of(VmState.RUNNING, VmState.PAUSED).contains(again.hypervisor().state()));

                try (HvspiHost third = host(Duration.ofMillis(300))) {
                    VmmUnavailableException busy = assertThrows(VmmUnavailableException.class, () -> third.stop(id));
                    assertTrue(busy.getMessage().contains(Long.toString(ProcessHandle.current().pid())),
                            busy.getMessage());
                }
            }
            assertEquals(List.of(id), first.list().stream().map(VmEntry::vmId).toList(), "reattach kept it");
            VmEntry.Recorded entry = (VmEntry.Recorded) first.list().getFirst();
            assertTrue(entry.vmmAlive());
            long pid = entry.record().pid();
            VmStopper.Outcome stopped = first.stop(id);
            assertTrue(stopped.pluginStopped(), stopped::describe);
            assertEquals(List.of(), stopped.signalled(), "QEMU quit when asked");
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "QEMU is gone");
            assertTrue(first.list().isEmpty());
            assertFalse(Files.exists(runtime.resolve(id)));
        }
    }

    @Test
    void anExceptionInsideTheBlockStopsTheVmAndTheIdIsFreeAgain() {
        String id = "hostapi-leak";
        try (HvspiHost host = host(Duration.ofSeconds(10))) {
            LoadedConfig config = host.loadConfig(HvctlRunner.home().resolve("etc/configuration.toml"), Map.of());
            long[] pid = new long[1];
            assertThrows(IllegalStateException.class, () -> {
                try (VmHandle vm = host.start(config.spec(id).toBuilder().accel("tcg").build())) {
                    pid[0] = vm.hostThreads().pid();
                    throw new IllegalStateException("the embedder's own failure");
                }
            });
            assertFalse(ProcessHandle.of(pid[0]).map(ProcessHandle::isAlive).orElse(false), "QEMU is gone");
            assertFalse(Files.exists(runtime.resolve(id)));
            try (VmHandle vm = host.start(config.spec(id).toBuilder().accel("tcg").build())) {
                assertEquals(id, vm.vmId());
            }
        }
    }
}
