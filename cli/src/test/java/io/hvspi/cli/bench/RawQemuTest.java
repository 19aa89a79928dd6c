package io.hvspi.cli.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.plugin.qemu.hotplug.DeviceArgs;
import io.hvspi.plugin.qemu.hotplug.DeviceTable;
import io.hvspi.plugin.qemu.hotplug.NetArgs;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.VmSpec;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The raw side of the benchmarks sends, byte for byte, what the QEMU plugin sends: QEMU reads its
 * monitor a byte at a time, so a shorter or longer command on one side skews the ratio. The plugin is
 * not on hvctl's class path at run time (pf4j loads it), hence copies held equal here.
 */
class RawQemuTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static String asThePluginSendsIt(String command, ObjectNode arguments) throws Exception {
        ObjectNode msg = JSON.createObjectNode().put("execute", command);
        msg.set("arguments", arguments);
        return JSON.writeValueAsString(msg);
    }

    @Test
    void namesAreThePlugins() {
        assertEquals(DeviceTable.NODE_PREFIX + 12, RawQemu.nodeName(12));
        assertEquals(NetArgs.netdevId("bench-nic"), RawQemu.netdevId("bench-nic"));
    }

    @Test
    void blockdevAddIsThePluginsForEveryCacheSetting() throws Exception {
        for (boolean set : new boolean[] {false, true}) {
            for (boolean direct : new boolean[] {false, true}) {
                for (boolean noFlush : new boolean[] {false, true}) {
                    VmSpec.BlockOptions block = new VmSpec.BlockOptions("virtio-blk-pci", "threads", set, direct,
                            noFlush);
                    // as the plugin's settings read them: the cache options count only when cache_set
                    DeviceArgs.NodeOptions options = new DeviceArgs.NodeOptions("raw", false, set && direct,
                            set && noFlush, "threads");
                    assertEquals(asThePluginSendsIt("blockdev-add", DeviceArgs.blockdevAdd("hvspi-node3",
                                    new BlockBackend.Null(1L << 30), false, options)),
                            RawQemu.blockdevAdd(block, "hvspi-node3", 1L << 30), "cache_set " + set + ", direct "
                                    + direct + ", no-flush " + noFlush);
                }
            }
        }
    }

    @Test
    void virtioBlkPciIsThePlugins() throws Exception {
        assertEquals(asThePluginSendsIt("device_add", DeviceArgs.virtioBlkPci("bench-disk", "hvspi-node3", "rp0",
                        List.of("indep_iothread_1"), 2)),
                RawQemu.virtioBlkPci("bench-disk", "hvspi-node3", "rp0", "indep_iothread_1", 2));
        assertEquals(asThePluginSendsIt("device_add", DeviceArgs.virtioBlkPci("a-disk-id-longer-than-twenty",
                        "hvspi-node4", "rp1", List.of(), 1)),
                RawQemu.virtioBlkPci("a-disk-id-longer-than-twenty", "hvspi-node4", "rp1", null, 1));
    }
}
