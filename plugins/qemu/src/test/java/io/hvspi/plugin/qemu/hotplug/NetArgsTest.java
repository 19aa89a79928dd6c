package io.hvspi.plugin.qemu.hotplug;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import org.junit.jupiter.api.Test;

class NetArgsTest {
    @Test
    void aSingleQueueTapHasNoMqAndNoVhostUnlessAsked() {
        assertEquals("{\"type\":\"tap\",\"id\":\"hvspi-net-n0\",\"ifname\":\"tap0\",\"script\":\"no\","
                + "\"downscript\":\"no\"}", NetArgs.netdevAdd("hvspi-net-n0", "tap0", 1, false).toString());
        assertEquals("{\"driver\":\"virtio-net-pci\",\"id\":\"n0\",\"netdev\":\"hvspi-net-n0\","
                + "\"mac\":\"02:00:00:00:00:01\",\"bus\":\"rp0\"}",
                NetArgs.virtioNetPci("n0", "hvspi-net-n0", "rp0", "02:00:00:00:00:01", 1).toString());
    }

    @Test
    void queuesNeedMqAndTwoVectorsPerPairPlusTwo() {
        var netdev = NetArgs.netdevAdd("d", "tap0", 4, true);
        assertEquals(4, netdev.get("queues").asInt());
        assertEquals(true, netdev.get("vhost").asBoolean());
        var device = NetArgs.virtioNetPci("n0", "d", "rp0", "02:00:00:00:00:01", 4);
        assertEquals(true, device.get("mq").asBoolean());
        assertEquals(10, device.get("vectors").asInt());
    }

    @Test
    void vhostNetIsUsableOnlyWhereTheDeviceOpens() {
        assertFalse(VhostNet.usable(java.nio.file.Path.of("/nonexistent/vhost-net")));
    }
}
