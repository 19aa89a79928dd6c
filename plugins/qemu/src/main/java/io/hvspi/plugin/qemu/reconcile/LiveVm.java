package io.hvspi.plugin.qemu.reconcile;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.plugin.qemu.cmdline.BlockDriver;
import io.hvspi.plugin.qemu.hotplug.DeviceTable;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.spi.VmmException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * What QEMU itself has, read over QMP: the devices under {@code /machine/peripheral}
 * with their bus, drive and IOThread; hvspi's block nodes ({@code hvspi-node<n>});
 * and the IOThreads. Only queries: reading it changes nothing.
 *
 * @param devices hotpluggable block devices (virtio-blk-pci, scsi-hd) by id, in QEMU's order
 * @param nodes hvspi's block nodes by name
 * @param ioThreads every IOThread QEMU has
 */
public record LiveVm(Map<String, LiveDevice> devices, Map<String, LiveNode> nodes, Set<String> ioThreads) {

    /**
     * One device as QEMU has it.
     *
     * @param bus the last element of its {@code parent_bus}: the root port's id ({@code rp3}), or the
     *            SCSI bus ({@code scsi0.0})
     * @param lun for scsi-hd, {@code scsi-id * 256 + lun}; else 0
     * @param ioThreads its IOThread, or those of its {@code iothread-vq-mapping}, or none (main loop)
     */
    public record LiveDevice(String id, String driver, String drive, String bus, int lun, List<String> ioThreads,
                             int queues) {}

    /** One of hvspi's block nodes: its driver, file, and the options hvspi set. */
    public record LiveNode(String name, String driver, String file, long sizeBytes, boolean readOnly,
                           boolean direct) {}

    /** Reads QEMU's devices, hvspi's nodes and the IOThreads, on a QEMU without {@code iothread-vq-mapping}. */
    public static LiveVm read(QmpClient qmp) {
        return read(qmp, false);
    }

    /**
     * Reads QEMU's devices, hvspi's nodes and the IOThreads.
     *
     * @param vqMapping QEMU has {@code iothread-vq-mapping} (the probe found it): a virtio-blk-pci
     *                  device's IOThreads are read from it too, since a device added with a mapping has
     *                  an empty {@code iothread} link
     */
    public static LiveVm read(QmpClient qmp, boolean vqMapping) {
        Map<String, LiveDevice> devices = new LinkedHashMap<>();
        for (JsonNode child : qmp.execute("qom-list", QmpClient.args().put("path", "/machine/peripheral"))) {
            String type = child.path("type").asText();
            String id = child.path("name").asText();
            Optional<BlockDriver> driver = BlockDriver.fromName(type.replaceFirst("^child<(.*)>$", "$1"));
            if (type.startsWith("child<") && driver.isPresent()) {
                device(qmp, id, driver.get(), vqMapping).ifPresent(d -> devices.put(id, d));
            }
        }
        Map<String, LiveNode> nodes = new LinkedHashMap<>();
        for (JsonNode n : qmp.execute("query-named-block-nodes", QmpClient.args().put("flat", true))) {
            String name = n.path("node-name").asText();
            if (name.startsWith(DeviceTable.NODE_PREFIX)) {
                nodes.put(name, new LiveNode(name, n.path("drv").asText(), n.path("file").asText(),
                        n.path("image").path("virtual-size").asLong(), n.path("ro").asBoolean(),
                        n.path("cache").path("direct").asBoolean()));
            }
        }
        Set<String> ioThreads = new LinkedHashSet<>();
        for (JsonNode t : qmp.execute("query-iothreads")) {
            ioThreads.add(t.path("id").asText());
        }
        return new LiveVm(devices, nodes, ioThreads);
    }

    /** A device's properties; empty when it went away between the listing and the reads. */
    private static Optional<LiveDevice> device(QmpClient qmp, String id, BlockDriver driver, boolean vqMapping) {
        String path = "/machine/peripheral/" + id;
        try {
            String drive = get(qmp, path, "drive").asText();
            String parent = get(qmp, path, "parent_bus").asText();
            String bus = parent.substring(parent.lastIndexOf('/') + 1);
            if (driver == BlockDriver.SCSI_HD) {
                int lun = get(qmp, path, "scsi-id").asInt() * DeviceTable.LUNS_PER_TARGET + get(qmp, path, "lun").asInt();
                // a scsi-hd runs on its controller's IOThread: the controller owns the bus
                String controller = parent.substring(0, parent.lastIndexOf('/'));
                return Optional.of(new LiveDevice(id, driver.qemuDriver(), drive, bus, lun,
                        ioThread(qmp, controller), 1));
            }
            List<String> ioThreads = ioThread(qmp, path);
            if (ioThreads.isEmpty() && vqMapping) {
                ioThreads = vqMapped(qmp, path);
            }
            return Optional.of(new LiveDevice(id, driver.qemuDriver(), drive, bus, 0, ioThreads,
                    get(qmp, path, "num-queues").asInt()));
        } catch (VmmException e) {
            if ("DeviceNotFound".equals(e.errorClass())) {
                return Optional.empty();
            }
            throw e;
        }
    }

    /** The object's {@code iothread} link as an id; none for the main loop. */
    private static List<String> ioThread(QmpClient qmp, String path) {
        String link = get(qmp, path, "iothread").asText("");
        return link.isEmpty() ? List.of() : List.of(link.substring(link.lastIndexOf('/') + 1));
    }

    /**
     * The IOThreads of the object's {@code iothread-vq-mapping} ({@code [{iothread, vqs}, ...]}), in
     * QEMU's order, which is the order hvspi gave them in; none when it has no mapping.
     */
    private static List<String> vqMapped(QmpClient qmp, String path) {
        List<String> out = new ArrayList<>();
        for (JsonNode entry : get(qmp, path, "iothread-vq-mapping")) {
            String link = entry.path("iothread").asText("");
            String t = link.substring(link.lastIndexOf('/') + 1);
            if (!t.isEmpty() && !out.contains(t)) {
                out.add(t);
            }
        }
        return List.copyOf(out);
    }

    private static JsonNode get(QmpClient qmp, String path, String property) {
        return qmp.execute("qom-get", QmpClient.args().put("path", path).put("property", property));
    }
}
