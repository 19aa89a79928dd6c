package io.hvspi.plugin.dragonball.api;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The part of Dragonball's {@code VirtioNetDeviceConfigInfo} hvspi sets through
 * {@code InsertNetworkDevice}: the interface id, the host tap, the MAC and the queues
 * (Dragonball counts rx and tx queues separately: two per queue pair), Dragonball's
 * default queue size, and duplicate MACs refused.
 *
 * @param ifaceId {@code iface_id}
 * @param hostDevName {@code host_dev_name}: the tap's name
 * @param guestMac {@code guest_mac}
 * @param queuePairs rx/tx pairs; {@code num_queues} is twice this
 */
public record VirtioNetDeviceConfigInfo(String ifaceId, String hostDevName, String guestMac, int queuePairs) {
    /** Dragonball's {@code DEFAULT_QUEUE_SIZE} for virtio-net. */
    public static final int DEFAULT_QUEUE_SIZE = 256;

    public ObjectNode toJson() {
        return JsonNodeFactory.instance.objectNode()
                .put("iface_id", ifaceId)
                .put("host_dev_name", hostDevName)
                .put("num_queues", 2 * queuePairs)
                .put("queue_size", DEFAULT_QUEUE_SIZE)
                .put("guest_mac", guestMac)
                .put("allow_duplicate_mac", false);
    }

    /** The config of {@code RemoveNetworkDevice}. */
    public static ObjectNode ifaceIdOnly(String ifaceId) {
        return JsonNodeFactory.instance.objectNode().put("iface_id", ifaceId);
    }
}
