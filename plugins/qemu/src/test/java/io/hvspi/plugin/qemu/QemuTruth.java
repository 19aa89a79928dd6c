package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.plugin.qemu.hotplug.DeviceTable;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.state.DeviceState;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.HvspiException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/** What QEMU itself has, read with plain QMP queries, held against a VM's record. */
final class QemuTruth {
    private QemuTruth() {}

    /** Device id to "bus iothread" as QEMU has them (virtio-blk-pci devices on root ports). */
    static Map<String, String> devices(QemuHypervisor vm) {
        Map<String, String> out = new TreeMap<>();
        for (JsonNode child : vm.monitorCommand("qom-list", QmpClient.args().put("path", "/machine/peripheral"))) {
            if (!child.path("type").asText().equals("child<virtio-blk-pci>")) {
                continue;
            }
            String path = "/machine/peripheral/" + child.path("name").asText();
            String bus = get(vm, path, "parent_bus");
            out.put(child.path("name").asText(), bus.substring(bus.lastIndexOf('/') + 1) + " "
                    + String.join(",", ioThreads(vm, path)) + " " + get(vm, path, "drive"));
        }
        return out;
    }

    /**
     * The device's IOThreads: its {@code iothread} link, else the IOThreads of its
     * {@code iothread-vq-mapping} (QEMU 9.0+; a device added with a mapping has an empty link).
     */
    static List<String> ioThreads(QemuHypervisor vm, String path) {
        String thread = get(vm, path, "iothread");
        if (!thread.isEmpty()) {
            return List.of(thread.substring(thread.lastIndexOf('/') + 1));
        }
        JsonNode mapping;
        try {
            mapping = vm.monitorCommand("qom-get", QmpClient.args().put("path", path)
                    .put("property", "iothread-vq-mapping"));
        } catch (HvspiException e) {
            return List.of(); // QEMU before 9.0 has no such property
        }
        List<String> out = new ArrayList<>();
        for (JsonNode entry : mapping) {
            String t = entry.path("iothread").asText();
            t = t.substring(t.lastIndexOf('/') + 1);
            if (!out.contains(t)) {
                out.add(t);
            }
        }
        return out;
    }

    private static String get(QemuHypervisor vm, String path, String property) {
        return vm.monitorCommand("qom-get", QmpClient.args().put("path", path).put("property", property)).asText();
    }

    static Set<String> nodes(QemuHypervisor vm) {
        Set<String> out = new TreeSet<>();
        for (JsonNode n : vm.monitorCommand("query-named-block-nodes", QmpClient.args().put("flat", true))) {
            if (n.path("node-name").asText().startsWith(DeviceTable.NODE_PREFIX)) {
                out.add(n.path("node-name").asText());
            }
        }
        return out;
    }

    static Set<String> ioThreads(QemuHypervisor vm) {
        Set<String> out = new TreeSet<>();
        vm.monitorCommand("query-iothreads", null).forEach(t -> out.add(t.path("id").asText()));
        return out;
    }

    /** The record says what QEMU has: devices with bus, IOThread and node; hvspi's nodes; IOThreads; no intent. */
    static void assertRecordEqualsQemu(QemuHypervisor vm, QemuState saved, String where) {
        Map<String, String> recorded = new TreeMap<>();
        for (DeviceState d : saved.devices()) {
            recorded.put(d.id(), d.bus() + " " + String.join(",", d.ioThreads()) + " "
                    + d.nodeName());
        }
        assertEquals(devices(vm), recorded, where + ": devices (bus, IOThread, node)");
        assertEquals(nodes(vm), new TreeSet<>(saved.devices().stream().map(DeviceState::nodeName).toList()),
                where + ": hvspi's block nodes");
        assertEquals(ioThreads(vm), new TreeSet<>(saved.ioThreads().stream().map(QemuState.IOThreadState::id)
                .toList()), where + ": IOThreads");
        assertEquals(List.of(), saved.intents(), where + ": intents left");
        List<String> buses = saved.devices().stream().map(DeviceState::bus).toList();
        assertEquals(buses.size(), buses.stream().distinct().count(), where + ": two devices on one root port");
    }
}
