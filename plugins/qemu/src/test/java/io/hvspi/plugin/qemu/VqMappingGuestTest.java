package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.core.config.KataConfigLoader;
import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.guest.GuestConsole;
import io.hvspi.guest.GuestDisk;
import io.hvspi.guest.TestGuest;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.VmSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * vq-mapping end to end on a QEMU that has it (9.0+: the system's on Debian 13, the other
 * one, Debian 13's through its chroot wrapper, on Debian 12): one disk's two queues over
 * the two independent IOThreads of a booted test guest, seen from QEMU ({@code qom-get
 * iothread-vq-mapping}), from the host (the IOThreads' thread ids are threads of the QEMU
 * process) and from the guest (two blk-mq hardware queues, and a read of what the host wrote).
 */
@Tag("guest")
class VqMappingGuestTest {
    private static final Duration BOOT = Duration.ofSeconds(120);
    private static final Duration STEP = Duration.ofSeconds(30);
    private static final List<String> POOL = List.of("indep_iothread_0", "indep_iothread_1");

    @TempDir
    Path tmp;
    private QemuHypervisor vm;
    private GuestConsole console;

    @AfterEach
    void shutdown() {
        try {
            if (console != null) {
                console.close();
            }
        } finally {
            if (vm != null) {
                vm.stop();
            }
        }
    }

    @Test
    void aGuestSeesOneDiskWithTwoQueuesServedByTwoIOThreadsAndReadsIt() throws IOException {
        QemuBinary qemu = QemuBinary.system().hasVqMapping() ? QemuBinary.system() : QemuBinary.other();
        assertTrue(qemu.hasVqMapping(), qemu + " has no vq-mapping: the system and the other QEMU are both older");
        TestGuest guest = TestGuest.get();
        VmSpec spec = KataConfigLoader.load(config(qemu.path(), guest)).toVmSpec("vqguest");
        DefaultHostContext host = TestVms.host(tmp).withOption(QemuHypervisor.OPTION_START_PAUSED, "true");
        vm = (QemuHypervisor) new QemuHypervisorFactory().create(spec, host);
        vm.start();
        Path socket = host.stateStore().load("vqguest").orElseThrow().runtimeDir().resolve("console.sock");
        console = GuestConsole.connect(socket, STEP, Optional.of(Path.of("target", "vq-guest-console.log")));
        vm.resume();
        console.awaitReady(BOOT);

        Path image = tmp.resolve("vq.img");
        byte[] block = new byte[4096];
        byte[] token = "vq-mapped-token\n".getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(token, 0, block, 0, token.length);
        Files.write(image, block);
        Files.write(image, new byte[(16 << 20) - 4096], java.nio.file.StandardOpenOption.APPEND);
        BlockDevice disk = vm.requireHotplug().attach(BlockDeviceSpec.builder("vqdisk", BlockBackend.path(image))
                .ioThread(IOThreadChoice.vqMapped(POOL)).queues(2).build());
        assertEquals(POOL, disk.ioThreads());

        // QEMU: queue 0 on the first IOThread, queue 1 on the second
        Map<String, List<Integer>> mapping = new HashMap<>();
        for (JsonNode entry : vm.monitorCommand("qom-get", QmpClient.args()
                .put("path", "/machine/peripheral/vqdisk").put("property", "iothread-vq-mapping"))) {
            List<Integer> vqs = new ArrayList<>();
            entry.path("vqs").forEach(q -> vqs.add(q.asInt()));
            mapping.put(entry.path("iothread").asText(), vqs);
        }
        assertEquals(Map.of(POOL.get(0), List.of(0), POOL.get(1), List.of(1)), mapping, "QEMU's view on " + qemu);

        // the host: each IOThread is a thread of the QEMU process (chroot shares the pid namespace)
        long pid = host.stateStore().load("vqguest").orElseThrow().pid();
        Map<String, Long> live = new HashMap<>();
        vm.monitorCommand("query-iothreads", null).forEach(t -> live.put(t.path("id").asText(),
                t.path("thread-id").asLong()));
        for (IOThreadInfo info : vm.requireIoThreads().list()) {
            long tid = info.hostThreadId().orElseThrow();
            assertEquals(live.get(info.id()), tid, info.id());
            assertTrue(Files.isDirectory(Path.of("/proc", Long.toString(pid), "task", Long.toString(tid))),
                    info.id() + " is host thread " + tid + " of QEMU " + pid);
            assertEquals(List.of("vqdisk"), info.devices(), info.id() + " serves the disk");
        }

        // the guest: one disk, two hardware queues, and the host's bytes through them
        GuestDisk seen = console.awaitDiskAdded("vqdisk", STEP);
        assertEquals(16L << 20, seen.sizeBytes());
        assertEquals(2, console.queues(seen.name(), STEP), "blk-mq queues of " + seen.name());
        assertEquals("vq-mapped-token", console.read(seen.name(), STEP).text());

        vm.requireHotplug().detach("vqdisk");
        console.awaitDiskRemoved(seen.name(), STEP);
        assertFalse(console.disks(STEP).containsKey(seen.name()));
    }

    /** A Kata configuration whose {@code path} is {@code binary}: the test guest, 2 vCPUs, 2 independent IOThreads. */
    private Path config(Path binary, TestGuest guest) throws IOException {
        String toml = """
                [hypervisor.qemu]
                path = '%s'
                kernel = '%s'
                initrd = '%s'
                kernel_params = '%s'
                machine_type = "q35"
                default_vcpus = 2
                default_memory = 512
                block_device_driver = "virtio-blk-pci"
                enable_iothreads = true
                indep_iothreads = 2
                indep_iothreads_policy = "least-loaded"
                accel = "tcg"
                hotplug_slots = 2
                """.formatted(binary, guest.kernel(), guest.initrd(), TestGuest.KERNEL_PARAMS);
        return Files.writeString(tmp.resolve("configuration.toml"), toml);
    }
}
