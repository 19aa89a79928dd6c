package io.hvspi.cli.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.plugin.qemu.hotplug.DeviceArgs;
import io.hvspi.plugin.qemu.hotplug.DeviceTable;
import io.hvspi.plugin.qemu.cmdline.QemuCommandLine;
import io.hvspi.plugin.qemu.hotplug.NetArgs;
import io.hvspi.plugin.qemu.hotplug.VhostNet;
import io.hvspi.plugin.qemu.process.RuntimeLayout;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmSpec;
import java.nio.file.Path;
import java.util.ArrayList;
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

    /** The NIC's netdev as the plugin sends it, vhost-net included where the plugin asks for it. */
    @Test
    void netdevAddIsThePluginsWithAndWithoutVhost() throws Exception {
        for (boolean vhost : new boolean[] {false, true}) {
            assertEquals(asThePluginSendsIt("netdev_add", NetArgs.netdevAdd("hvspi-net-bench-nic", "hvbr1a2b", 1,
                    vhost)), RawQemu.netdevAdd("hvspi-net-bench-nic", "hvbr1a2b", vhost), "vhost " + vhost);
        }
        assertEquals(VhostNet.usable(), RawQemu.vhostNetUsable());
    }

    /**
     * The same VM on both sides: the plugin's command line for a guestless VM, less the serial console
     * and the event monitor that hvspi's own features need. The raw side once left out maxcpus, which
     * the plugin passes as Kata does (QEMU sets up a hotplug slot per possible vCPU).
     */
    @Test
    void commandLineIsThePluginsWithoutConsoleAndEventMonitor() {
        VmSpec spec = VmSpec.builder().vmId("bench-vm").hypervisorType("qemu")
                .binary(Path.of("/usr/bin/qemu-system-x86_64")).guestless().vcpus(1).maxVcpus(2).memoryMib(512)
                .accel("tcg").hotplugSlots(9).block(new VmSpec.BlockOptions("virtio-blk-pci", "threads", false, false,
                        false)).ioThreads(new VmSpec.IOThreadOptions(true, 4, IOThreadPolicy.LEAST_LOADED)).build();
        Path dir = Path.of("/run/hvspi/bench-vm");
        List<String> plugin = QemuCommandLine.build(spec, new RuntimeLayout(dir)).argv();
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < plugin.size(); i++) {
            String arg = plugin.get(i);
            String value = i + 1 < plugin.size() ? plugin.get(i + 1) : "";
            boolean hvspisOwn = arg.equals("-chardev")
                    && (value.startsWith("socket,id=console,") || value.startsWith("socket,id=events,"))
                    || arg.equals("-serial") || arg.equals("-mon") && value.equals("chardev=events,mode=control");
            if (hvspisOwn) {
                i++;
                continue;
            }
            expected.add(arg);
        }
        assertEquals(expected, RawQemu.argv(spec, dir, "bench-vm"));
    }
}
