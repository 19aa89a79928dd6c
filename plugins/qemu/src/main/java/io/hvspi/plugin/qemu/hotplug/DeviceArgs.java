package io.hvspi.plugin.qemu.hotplug;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.spi.BlockBackend;
import java.util.List;

/**
 * The QMP arguments of hotplug commands, as pure functions of what is attached,
 * so that tests can check exactly what QEMU would receive.
 */
public final class DeviceArgs {
    /** virtio-blk passes at most 20 bytes of serial to the guest. */
    static final int MAX_SERIAL = 20;

    private DeviceArgs() {}

    /** The serial a guest finds the disk by: its id, cut to what virtio-blk passes on. */
    static String serial(String id) {
        return id.length() <= MAX_SERIAL ? id : id.substring(0, MAX_SERIAL);
    }

    /** How a block node opens its backend. */
    public record NodeOptions(String format, boolean readOnly, boolean direct, boolean noFlush, String aio) {}

    /**
     * {@code blockdev-add}: a format node ({@code raw}, {@code qcow2}) over a protocol
     * node ({@code file} for a regular file, {@code host_device} for a block device),
     * or a {@code null-co} node for the null backend. The protocol node is defined
     * inline, so {@code blockdev-del} of the top node removes both.
     *
     * @param hostDevice the path is a block device
     */
    public static ObjectNode blockdevAdd(String nodeName, BlockBackend backend, boolean hostDevice, NodeOptions o) {
        ObjectNode a = QmpClient.args();
        switch (backend) {
            case BlockBackend.Null n -> {
                // reads return zeros, so a guest sees an empty disk rather than stale memory
                a.put("driver", "null-co").put("node-name", nodeName).put("size", n.sizeBytes())
                        .put("read-zeroes", true);
            }
            case BlockBackend.HostPath p -> {
                a.put("driver", o.format()).put("node-name", nodeName);
                ObjectNode file = a.putObject("file");
                file.put("driver", hostDevice ? "host_device" : "file").put("filename", p.path().toString())
                        .put("aio", o.aio());
            }
        }
        // QEMU's defaults (read-only, cache.direct and cache.no-flush false) are left out: QEMU reads its
        // monitor a byte per main-loop turn, and these 60 bytes cost an attach about 0.25 ms under TCG
        if (o.readOnly()) {
            a.put("read-only", true);
        } else {
            a.put("discard", "unmap");
        }
        if (o.direct() || o.noFlush()) {
            ObjectNode cache = a.putObject("cache");
            if (o.direct()) {
                cache.put("direct", true);
            }
            if (o.noFlush()) {
                cache.put("no-flush", true);
            }
        }
        return a;
    }

    /**
     * {@code device_add} of a virtio-blk-pci on a root port, with the device id as its
     * serial (how a guest tells hotplugged disks apart). One IOThread goes into
     * {@code iothread}; several into {@code iothread-vq-mapping} (QEMU 9.0+), queue
     * {@code i} on IOThread {@code i mod n}; none leaves the device on the main loop.
     * (A vq-mapping onto one IOThread is the same as {@code iothread}, and is sent so.)
     * {@code share-rw=on} as Kata sets it: virtcontainers/qemu.go hotplugAddBlockDevice
     * passes {@code shared = true} to govmm's {@code ExecutePCIDeviceAddWithDiscard},
     * which adds {@code "share-rw": true} (govmm qemu/qmp.go).
     */
    public static ObjectNode virtioBlkPci(String id, String nodeName, String rootPort, List<String> ioThreads,
                                          int queues) {
        ObjectNode a = QmpClient.args().put("driver", "virtio-blk-pci").put("id", id).put("drive", nodeName)
                .put("bus", rootPort).put("num-queues", queues).put("serial", serial(id)).put("share-rw", true);
        if (ioThreads.size() > 1) {
            ArrayNode mapping = a.putArray("iothread-vq-mapping");
            for (int t = 0; t < ioThreads.size(); t++) {
                ObjectNode entry = mapping.addObject().put("iothread", ioThreads.get(t));
                ArrayNode vqs = entry.putArray("vqs");
                for (int q = t; q < queues; q += ioThreads.size()) {
                    vqs.add(q);
                }
            }
        } else if (ioThreads.size() == 1) {
            a.put("iothread", ioThreads.get(0));
        }
        return a;
    }

    /**
     * {@code device_add} of a scsi-hd on the virtio-scsi controller, at Kata's address for disk {@code index},
     * {@code share-rw=on} as Kata's {@code ExecuteSCSIDeviceAdd(..., shared = true, ...)} sets it.
     */
    public static ObjectNode scsiHd(String id, String nodeName, String bus, int index) {
        return QmpClient.args().put("driver", "scsi-hd").put("id", id).put("drive", nodeName).put("bus", bus)
                .put("serial", serial(id)).put("channel", 0).put("scsi-id", index / DeviceTable.LUNS_PER_TARGET)
                .put("lun", index % DeviceTable.LUNS_PER_TARGET).put("share-rw", true);
    }
}
