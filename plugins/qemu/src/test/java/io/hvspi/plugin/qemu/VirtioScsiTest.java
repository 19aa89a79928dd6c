package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.RequestRejectedException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Kata's default block driver: disks on a virtio-scsi controller that has an IOThread of its own. */
class VirtioScsiTest {
    @TempDir
    Path tmp;

    @Test
    void scsiDisksRunOnTheControllersIOThreadBesideThePool() {
        QemuHypervisor vm = (QemuHypervisor) new QemuHypervisorFactory().create(
                TestVms.spec("scsi", 2, IOThreadPolicy.LEAST_LOADED, "virtio-scsi", 2), TestVms.host(tmp));
        try {
            vm.start();
            assertEquals("/objects/scsi-io-thread", vm.monitorCommand("qom-get",
                    QmpClient.args().put("path", "/machine/peripheral/scsi0").put("property", "iothread")).asText());
            BlockDevice disk = vm.requireHotplug().attach(
                    BlockDeviceSpec.builder("s0", BlockBackend.nullBackend()).build());
            assertEquals("scsi-hd", disk.driver());
            assertEquals(List.of("scsi-io-thread"), disk.ioThreads());
            assertEquals(Optional.of("scsi0.0:0:0"), disk.address());
            List<IOThreadInfo> threads = vm.requireIoThreads().list();
            assertEquals(List.of("indep_iothread_0", "indep_iothread_1", "scsi-io-thread"),
                    threads.stream().map(IOThreadInfo::id).toList());
            assertEquals(IOThreadInfo.Kind.CONTROLLER, threads.get(2).kind());
            assertEquals(List.of("s0"), threads.get(2).devices());

            // a virtio-blk-pci disk asked for explicitly still takes the pool
            BlockDevice blk = vm.requireHotplug().attach(BlockDeviceSpec.builder("b0", BlockBackend.nullBackend())
                    .driver("virtio-blk-pci").build());
            assertEquals(List.of("indep_iothread_0"), blk.ioThreads());

            assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT, assertThrows(RequestRejectedException.class,
                    () -> vm.requireHotplug().attach(BlockDeviceSpec.builder("s1", BlockBackend.nullBackend())
                            .ioThread(IOThreadChoice.named("indep_iothread_1")).build())).reason());
            assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT, assertThrows(RequestRejectedException.class,
                    () -> vm.requireIoThreads().remove("scsi-io-thread")).reason());

            vm.requireHotplug().detach("s0");
            List<String> left = vm.monitorCommand("qom-list", QmpClient.args().put("path", "/machine/peripheral"))
                    .findValuesAsText("name");
            assertFalse(left.contains("s0"));
            assertTrue(left.contains("b0"));
            assertEquals(List.of(), vm.requireIoThreads().list().get(2).devices());
        } finally {
            vm.stop();
        }
    }
}
