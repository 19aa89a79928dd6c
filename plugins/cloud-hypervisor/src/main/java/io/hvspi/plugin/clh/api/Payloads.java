package io.hvspi.plugin.clh.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.spi.VmSpec;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The request bodies the plugin sends, with Cloud Hypervisor's field names (OpenAPI schemas VmConfig, DiskConfig). */
public final class Payloads {
    /** The id the root disk image gets (Cloud Hypervisor reserves ids starting with "__", not "_"). */
    public static final String ROOT_DISK_ID = "_rootfs";

    private static final ObjectMapper JSON = new ObjectMapper();
    // virtio_queue::Queue's largest size
    private static final int MAX_QUEUE_SIZE = 32768;

    private Payloads() {}

    /**
     * The {@code VmConfig} for {@code vm.create}: vCPUs, memory, the payload
     * (kernel, initramfs, kernel parameters), the root image as a read-only disk,
     * the serial console into {@code serialLog}, no virtio console.
     *
     * @param maxVcpus vCPUs the VM may grow to (at least {@code spec.vcpus()})
     */
    public static ObjectNode vmConfig(VmSpec spec, int maxVcpus, Path serialLog) {
        ObjectNode config = JSON.createObjectNode();
        config.putObject("cpus").put("boot_vcpus", spec.vcpus()).put("max_vcpus", Math.max(maxVcpus, spec.vcpus()));
        config.putObject("memory").put("size", (long) spec.memoryMib() << 20);
        ObjectNode payload = config.putObject("payload");
        spec.kernel().ifPresent(k -> payload.put("kernel", k.toString()));
        spec.initrd().ifPresent(i -> payload.put("initramfs", i.toString()));
        if (!spec.kernelParams().isBlank()) {
            payload.put("cmdline", spec.kernelParams());
        }
        spec.image().ifPresent(image -> config.putArray("disks").addObject()
                .put("id", ROOT_DISK_ID).put("path", image.toString()).put("readonly", true));
        config.putObject("serial").put("mode", "File").put("file", serialLog.toString());
        config.putObject("console").put("mode", "Off");
        return config;
    }

    /**
     * A {@code DiskConfig} for {@code vm.add-disk}.
     *
     * @param imageType Cloud Hypervisor's {@code image_type}: Raw, Qcow2, Vhdx or FixedVhd
     * @param affinity host CPUs per queue index; empty for none
     */
    public static ObjectNode diskConfig(String id, Path path, boolean readOnly, boolean direct, int queues,
                                        int queueSize, String imageType, Map<Integer, List<Integer>> affinity) {
        checkQueueSize(id, queueSize);
        ObjectNode disk = JSON.createObjectNode()
                .put("id", id)
                .put("path", path.toString())
                .put("readonly", readOnly)
                .put("direct", direct)
                .put("num_queues", queues)
                .put("queue_size", queueSize)
                .put("vhost_user", false)
                .put("image_type", imageType);
        if (!affinity.isEmpty()) {
            ArrayNode list = disk.putArray("queue_affinity");
            new TreeMap<>(affinity).forEach((queue, cpus) -> {
                ObjectNode entry = list.addObject().put("queue_index", queue);
                cpus.forEach(entry.putArray("host_cpus")::add);
            });
        }
        return disk;
    }

    /**
     * A {@code NetConfig} for {@code vm.add-net}, as Kata's Cloud Hypervisor driver sends it:
     * the tap by name, the MAC, and Cloud Hypervisor's queue count, which counts rx and tx
     * queues separately (two per queue pair).
     */
    public static ObjectNode netConfig(String id, String tap, String mac, int queuePairs, int queueSize) {
        checkQueueSize(id, queueSize);
        return JSON.createObjectNode()
                .put("id", id)
                .put("tap", tap)
                .put("mac", mac)
                .put("num_queues", 2 * queuePairs)
                .put("queue_size", queueSize)
                .put("vhost_user", false);
    }

    /**
     * Cloud Hypervisor v51.1 does not validate {@code queue_size} beyond "more than 2" for disks:
     * {@code Queue::new(size).unwrap()} panics on anything but a power of two up to 32768, and the
     * VMM dies with every VM it runs. Never send one.
     */
    static void checkQueueSize(String id, int queueSize) {
        if (queueSize <= 0 || queueSize > MAX_QUEUE_SIZE || Integer.bitCount(queueSize) != 1) {
            throw new IllegalArgumentException("clh: device '" + id + "': queue_size " + queueSize
                    + " is not a power of two from 1 to " + MAX_QUEUE_SIZE + " (Cloud Hypervisor would panic)");
        }
    }

    /** The body of {@code vm.remove-device}. */
    public static ObjectNode removeDevice(String id) {
        return JSON.createObjectNode().put("id", id);
    }
}
