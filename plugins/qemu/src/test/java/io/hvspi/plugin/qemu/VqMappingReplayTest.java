package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.qemu.probe.RecordedReplies;
import io.hvspi.plugin.qemu.qmp.FakeQmpServer;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Capability;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmmException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * vq-mapping, replayed: the plugin connects (host option {@code endpoint}) to a
 * scripted QMP server that answers the probe with replies recorded from QEMU 10.0 or 7.2, and the test checks
 * the exact {@code device_add} QEMU would receive.
 */
class VqMappingReplayTest {
    @TempDir
    Path tmp;

    private Hypervisor vmOn(FakeQmpServer server) {
        DefaultHostContext host = TestVms.host(tmp).withOption("endpoint", server.socket().toString());
        Hypervisor vm = new QemuHypervisorFactory().create(TestVms.spec("vq", 4, IOThreadPolicy.LEAST_LOADED), host);
        vm.start();
        return vm;
    }

    private static JsonNode json(String text) throws Exception {
        return QmpClient.JSON.readTree(text);
    }

    @Test
    void onQemu10ADeviceSpreadsItsQueuesOverSeveralIOThreads() throws Exception {
        try (FakeQmpServer qemu10 = RecordedReplies.acceptsHotplug(
                RecordedReplies.server(tmp.resolve("q10.sock"), RecordedReplies.QEMU_10_0))) {
            RecordedReplies.iothreads(qemu10, List.of("indep_iothread_0", "indep_iothread_1", "indep_iothread_2",
                    "indep_iothread_3"));
            // a guestless VM: QEMU reports the unplug after the reset that completes it
            qemu10.on("system_reset", (req, c) -> {
                c.reply(req, QmpClient.args());
                c.event("DEVICE_DELETED", QmpClient.args().put("device", "vq0").put("path", "/machine/peripheral/vq0"));
            });
            Hypervisor vm = vmOn(qemu10);
            try {
                assertTrue(vm.supports(Capability.IOTHREAD_VQ_MAPPING));
                BlockDevice d = vm.requireHotplug().attach(BlockDeviceSpec.builder("vq0", BlockBackend.nullBackend())
                        .queues(4).ioThread(IOThreadChoice.vqMapped(List.of("indep_iothread_0", "indep_iothread_1")))
                        .build());
                assertEquals(List.of("indep_iothread_0", "indep_iothread_1"), d.ioThreads());
                JsonNode add = qemu10.argumentsOf("device_add").get(0);
                assertEquals(json("""
                        {"driver": "virtio-blk-pci", "id": "vq0", "drive": "hvspi-node0", "bus": "rp0",
                         "num-queues": 4, "serial": "vq0", "share-rw": true,
                         "iothread-vq-mapping": [{"iothread": "indep_iothread_0", "vqs": [0, 2]},
                                                 {"iothread": "indep_iothread_1", "vqs": [1, 3]}]}"""), add);
                assertEquals(List.of("vq0"), vm.requireIoThreads().list().stream()
                        .filter(t -> t.id().equals("indep_iothread_1")).findFirst().orElseThrow().devices());

                vm.requireHotplug().move("vq0", IOThreadChoice.vqMapped(
                        List.of("indep_iothread_1", "indep_iothread_2", "indep_iothread_3")));
                JsonNode replug = qemu10.argumentsOf("device_add").get(1);
                assertEquals(json("""
                        {"driver": "virtio-blk-pci", "id": "vq0", "drive": "hvspi-node0", "bus": "rp0",
                         "num-queues": 4, "serial": "vq0", "share-rw": true,
                         "iothread-vq-mapping": [{"iothread": "indep_iothread_1", "vqs": [0, 3]},
                                                 {"iothread": "indep_iothread_2", "vqs": [1]},
                                                 {"iothread": "indep_iothread_3", "vqs": [2]}]}"""), replug);
                assertEquals(1, qemu10.argumentsOf("blockdev-add").size(), "a move keeps the block node");
                assertTrue(qemu10.argumentsOf("x-blockdev-set-iothread").isEmpty());
            } finally {
                vm.stop();
            }
        }
    }

    @Test
    void theReplayRefusesACommandItWasNotGivenAsQemuRefusesOneItLacks() {
        try (FakeQmpServer qemu10 = RecordedReplies.server(tmp.resolve("q10.sock"), RecordedReplies.QEMU_10_0)) {
            QemuHypervisor vm = (QemuHypervisor) vmOn(qemu10);
            try {
                VmmException e = assertThrows(VmmException.class, () -> vm.monitorCommand("blockdev-add",
                        QmpClient.args().put("driver", "null-co").put("node-name", "n0")));
                assertEquals("CommandNotFound", e.errorClass());
                assertEquals("The command blockdev-add has not been found", e.vmmMessage());
            } finally {
                vm.stop();
            }
        }
    }

    @Test
    void onQemu72AVqMappedRequestIsUnsupportedAndNothingIsSent() throws Exception {
        try (FakeQmpServer qemu72 = RecordedReplies.server(tmp.resolve("q72.sock"), RecordedReplies.QEMU_7_2)) {
            Hypervisor vm = vmOn(qemu72);
            try {
                assertFalse(vm.supports(Capability.IOTHREAD_VQ_MAPPING));
                UnsupportedCapabilityException e = assertThrows(UnsupportedCapabilityException.class,
                        () -> vm.requireHotplug().attach(BlockDeviceSpec.builder("vq0", BlockBackend.nullBackend())
                                .ioThread(IOThreadChoice.vqMapped(List.of("indep_iothread_0", "indep_iothread_1")))
                                .build()));
                assertEquals(Capability.IOTHREAD_VQ_MAPPING, e.capability());
                assertEquals("qemu", e.hypervisorType());
                assertTrue(qemu72.argumentsOf("blockdev-add").isEmpty());
                assertTrue(qemu72.argumentsOf("device_add").isEmpty());
            } finally {
                vm.stop();
            }
        }
    }
}
