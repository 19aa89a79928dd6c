package io.hvspi.plugin.dragonball.api;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The part of Dragonball's {@code BlockDeviceConfigInfo} hvspi sets through
 * {@code InsertBlockDevice}. hvspi always sends {@code device_type} {@code RawBlock}
 * (a host file or block device), one queue of Dragonball's default size, and the
 * bus explicitly.
 *
 * @param driveId {@code drive_id}
 * @param pathOnHost {@code path_on_host}
 * @param isRootDevice {@code is_root_device}
 * @param isReadOnly {@code is_read_only}
 * @param isDirect {@code is_direct} ({@code O_DIRECT})
 * @param numQueues {@code num_queues}
 * @param usePciBus {@code use_pci_bus}: virtio-blk-pci when true, virtio-blk-mmio when false
 */
public record BlockDeviceConfigInfo(String driveId, String pathOnHost, boolean isRootDevice, boolean isReadOnly,
                                    boolean isDirect, int numQueues, boolean usePciBus) {
    /** Dragonball's default {@code queue_size}. */
    public static final int DEFAULT_QUEUE_SIZE = 256;

    public ObjectNode toJson() {
        return JsonNodeFactory.instance.objectNode()
                .put("drive_id", driveId)
                .put("device_type", "RawBlock")
                .put("path_on_host", pathOnHost)
                .put("is_root_device", isRootDevice)
                .put("is_read_only", isReadOnly)
                .put("is_direct", isDirect)
                .put("num_queues", numQueues)
                .put("queue_size", DEFAULT_QUEUE_SIZE)
                .put("use_pci_bus", usePciBus);
    }

    /** The config of {@code PrepareRemoveBlockDevice} and {@code RemoveBlockDevice}. */
    public static ObjectNode driveIdOnly(String driveId) {
        return JsonNodeFactory.instance.objectNode().put("drive_id", driveId);
    }
}
