package io.hvspi.plugin.qemu.hotplug;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.plugin.qemu.qmp.QmpClient;

/**
 * The QMP arguments of NIC hotplug, as pure functions, so that tests can check exactly
 * what QEMU receives. The shapes follow Kata's govmm ({@code NetdevAdd}/{@code
 * ExecuteNetPCIDeviceAdd} in kata-containers/src/runtime/pkg/govmm/qemu/qmp.go).
 */
public final class NetArgs {
    /** hvspi names the netdev of device {@code id} {@code hvspi-net-<id>}; netdevs are a namespace of their own. */
    public static final String NETDEV_PREFIX = "hvspi-net-";

    private NetArgs() {}

    public static String netdevId(String deviceId) {
        return NETDEV_PREFIX + deviceId;
    }

    /**
     * {@code netdev_add} of a tap QEMU opens by name, without helper scripts (hvspi or the
     * caller set the tap up), with {@code queues} for a multi-queue tap, and vhost-net only
     * when the host has a usable {@code /dev/vhost-net}.
     */
    public static ObjectNode netdevAdd(String netdev, String tap, int queues, boolean vhost) {
        ObjectNode a = QmpClient.args().put("type", "tap").put("id", netdev).put("ifname", tap)
                .put("script", "no").put("downscript", "no");
        if (queues > 1) {
            a.put("queues", queues);
        }
        if (vhost) {
            a.put("vhost", true);
        }
        return a;
    }

    /**
     * {@code device_add} of a virtio-net-pci on a root port. With several queue pairs it
     * needs {@code mq} and MSI-X vectors for each queue of both directions, one for
     * configuration changes and one for the control queue: {@code 2 * queues + 2} (as
     * QEMU's docs/virtio-net and Kata's govmm set it).
     */
    public static ObjectNode virtioNetPci(String id, String netdev, String rootPort, String mac, int queues) {
        ObjectNode a = QmpClient.args().put("driver", "virtio-net-pci").put("id", id).put("netdev", netdev)
                .put("mac", mac).put("bus", rootPort);
        if (queues > 1) {
            a.put("mq", true).put("vectors", 2 * queues + 2);
        }
        return a;
    }
}
