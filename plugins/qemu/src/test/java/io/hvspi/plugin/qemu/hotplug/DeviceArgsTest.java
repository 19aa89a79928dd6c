package io.hvspi.plugin.qemu.hotplug;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.spi.BlockBackend;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The exact QMP arguments of hotplug commands. */
class DeviceArgsTest {
    private static JsonNode json(String s) throws Exception {
        return QmpClient.JSON.readTree(s);
    }

    /** Compares as QEMU reads it: the JSON text, so that an int and a long of one value are equal. */
    private static void assertJson(String expected, JsonNode actual) throws Exception {
        assertEquals(json(expected), json(actual.toString()));
    }

    @Test
    void aFileIsARawNodeOverAFileNodeWithAioAndCache() throws Exception {
        assertJson("""
                {"driver": "raw", "node-name": "n0",
                 "file": {"driver": "file", "filename": "/var/lib/disk.img", "aio": "io_uring"},
                 "discard": "unmap", "cache": {"direct": true}}""",
                DeviceArgs.blockdevAdd("n0", BlockBackend.path(Path.of("/var/lib/disk.img")), false,
                        new DeviceArgs.NodeOptions("raw", false, true, false, "io_uring")));
    }

    @Test
    void aBlockDeviceIsAHostDeviceNodeAndReadOnlyHasNoDiscard() throws Exception {
        assertJson("""
                {"driver": "qcow2", "node-name": "n1",
                 "file": {"driver": "host_device", "filename": "/dev/vdb", "aio": "native"},
                 "read-only": true, "cache": {"direct": true, "no-flush": true}}""",
                DeviceArgs.blockdevAdd("n1", BlockBackend.path(Path.of("/dev/vdb")), true,
                        new DeviceArgs.NodeOptions("qcow2", true, true, true, "native")));
    }

    @Test
    void theNullBackendIsANullCoNodeThatReadsZeros() throws Exception {
        assertJson("""
                {"driver": "null-co", "node-name": "n2", "size": 4096, "read-zeroes": true,
                 "discard": "unmap"}""",
                DeviceArgs.blockdevAdd("n2", new BlockBackend.Null(4096), false,
                        new DeviceArgs.NodeOptions("raw", false, false, false, "threads")));
    }

    /** Kata's hotplugged disks are share-rw=on: virtcontainers/qemu.go passes shared = true, govmm qmp.go sets it. */
    @Test
    void hotpluggedDisksAreShareRwAsInKata() {
        assertEquals(true, DeviceArgs.virtioBlkPci("d0", "n0", "rp0", List.of(), 1).path("share-rw").asBoolean(false));
        assertEquals(true, DeviceArgs.scsiHd("s0", "n0", "scsi0.0", 0).path("share-rw").asBoolean(false));
    }

    @Test
    void virtioBlkPciTakesOneIOThreadOrNone() throws Exception {
        assertJson("""
                {"driver": "virtio-blk-pci", "id": "d0", "drive": "n0", "bus": "rp3", "num-queues": 2,
                 "serial": "d0", "share-rw": true, "iothread": "indep_iothread_1"}""",
                DeviceArgs.virtioBlkPci("d0", "n0", "rp3", List.of("indep_iothread_1"), 2));
        assertJson("""
                {"driver": "virtio-blk-pci", "id": "d0", "drive": "n0", "bus": "rp3", "num-queues": 1,
                 "serial": "d0", "share-rw": true}""",
                DeviceArgs.virtioBlkPci("d0", "n0", "rp3", List.of(), 1));
    }

    @Test
    void theSerialIsTheIdCutToWhatVirtioBlkPassesOn() {
        assertEquals("disk-with-a-long-nam", DeviceArgs.virtioBlkPci("disk-with-a-long-name", "n0", "rp0", List.of(), 1)
                .path("serial").asText());
    }

    @Test
    void scsiHdUsesKatasTargetAndLunForItsIndex() throws Exception {
        assertJson("""
                {"driver": "scsi-hd", "id": "s0", "drive": "n0", "bus": "scsi0.0", "serial": "s0", "channel": 0,
                 "scsi-id": 1, "lun": 3, "share-rw": true}""", DeviceArgs.scsiHd("s0", "n0", "scsi0.0", 259));
    }
}
