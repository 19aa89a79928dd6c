package io.hvspi.plugin.clh.hotplug;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.plugin.clh.api.ApiReply;
import io.hvspi.plugin.clh.api.ClhApiClient;
import io.hvspi.plugin.clh.api.Payloads;
import io.hvspi.kit.device.DeviceIds;
import io.hvspi.kit.device.DeviceSpecGuard;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Capability;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * Disk hotplug through {@code vm.add-disk} and {@code vm.remove-device}, as
 * Kata's Go runtime does it: {@code num_queues} one per vCPU (or the spec's
 * queue count), {@code queue_size} 1024, the hotplug timeout, and a PCI address
 * {@code 0000:00:DD.0} read back from {@code PciDeviceInfo}. Cloud Hypervisor
 * has no IOThreads: each queue runs on its own VMM thread {@code <id>_q<i>},
 * which {@code queue_affinity} can pin.
 */
public final class ClhDeviceHotplug implements DeviceHotplug {
    /** Kata's queue size for hotplugged disks. */
    public static final int QUEUE_SIZE = 1024;
    /** The PCI address Kata accepts: bus 0, function 0 (Cloud Hypervisor uses no bridges). */
    public static final Pattern KATA_BDF = Pattern.compile("0000:00:[0-9a-f]{2}\\.0");
    /**
     * What a device spec may not ask of Cloud Hypervisor: IOThreads. It has multi-queue
     * and queue affinity, the only other capabilities a spec can ask for.
     */
    private static final DeviceSpecGuard GUARD = DeviceSpecGuard.of("clh",
                    EnumSet.of(Capability.BLOCK_DEVICE, Capability.MULTI_QUEUE, Capability.QUEUE_AFFINITY))
            .because(Capability.INDEPENDENT_IOTHREADS, "Cloud Hypervisor has none, each disk queue runs on its own "
                    + "thread <id>_q<i>")
            .because(Capability.IOTHREAD_VQ_MAPPING, "Cloud Hypervisor has no IOThreads; use queue affinity to place "
                    + "its queue threads");

    private static final String TYPE = "clh";
    private static final String DRIVER = "virtio-blk-pci";

    private final ClhApiClient api;
    private final Object lock;
    private final int vcpus;
    private final boolean cacheDirect;
    private final Duration hotplugTimeout;
    private final Duration apiTimeout;
    private final BooleanSupplier booted;
    private final Runnable changed;
    private final DeviceRemoval removal;
    private volatile Predicate<String> takenElsewhere = id -> false;
    private final Map<String, BlockDevice> devices = new LinkedHashMap<>();

    /**
     * @param lock the lock of every device of the VM, shared with its network hotplug: one id
     *             namespace, and Cloud Hypervisor's API serves one request at a time anyway
     * @param vcpus boot vCPUs: the default queue count
     * @param cacheDirect {@code block_device_cache_set && block_device_cache_direct}: every disk gets O_DIRECT
     * @param booted whether the VM runs (hotplug, answered 200) or is only created (cold add, answered 204)
     * @param changed called after every change of the device list, to persist it
     */
    public ClhDeviceHotplug(ClhApiClient api, Object lock, int vcpus, boolean cacheDirect, Duration hotplugTimeout,
                            Duration apiTimeout, BooleanSupplier booted, Runnable changed) {
        this.api = api;
        this.lock = lock;
        this.vcpus = vcpus;
        this.cacheDirect = cacheDirect;
        this.hotplugTimeout = hotplugTimeout;
        this.apiTimeout = apiTimeout;
        this.booted = booted;
        this.changed = changed;
        this.removal = new DeviceRemoval(api, hotplugTimeout, apiTimeout);
    }

    /** Ids other device kinds (network devices) hold: one namespace for every device of the VM. */
    public void shareIdsWith(Predicate<String> takenElsewhere) {
        this.takenElsewhere = takenElsewhere;
    }

    /** True when a disk has this id. */
    public boolean has(String id) {
        synchronized (lock) {
            return devices.containsKey(id);
        }
    }

    @Override
    public BlockDevice attach(BlockDeviceSpec spec) {
        synchronized (lock) {
            String id = spec.id();
            DeviceIds.checkDeviceId(TYPE, id);
            if (devices.containsKey(id) || takenElsewhere.test(id)) {
                throw new RequestRejectedException(Reason.DUPLICATE_ID, "clh: device '" + id + "' is already attached");
            }
            GUARD.check(spec);
            Path path = switch (spec.backend()) {
                case BlockBackend.HostPath h -> h.path();
                case BlockBackend.Null n -> throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "clh: device '" + id
                        + "': Cloud Hypervisor has no null block backend; attach a file or block device (a sparse file reads zeros)");
            };
            if (spec.driver().isPresent() && !List.of("virtio-blk", DRIVER).contains(spec.driver().get())) {
                throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "clh: device '" + id + "': driver '"
                        + spec.driver().get() + "' is not available; Cloud Hypervisor has only virtio-blk");
            }
            String imageType = imageType(id, spec.format());
            int queues = spec.queues().orElse(vcpus);
            checkAffinity(id, queues, spec.queueAffinity());

            JsonNode body = Payloads.diskConfig(id, path, spec.readOnly(), spec.direct() || cacheDirect, queues, QUEUE_SIZE,
                    imageType, spec.queueAffinity());
            ApiReply reply;
            try {
                reply = api.put("/vm.add-disk", body, hotplugTimeout);
            } catch (VmmUnavailableException e) {
                if (e.reason() == VmmUnavailableException.Reason.TIMED_OUT) {
                    // it may have been added after all: leave nothing behind
                    removeQuietly(id);
                }
                throw e;
            }
            Optional<String> address = Optional.empty();
            if (reply.status() == 200) {
                JsonNode info = reply.requireBody("PUT /api/v1/vm.add-disk");
                String bdf = info.path("bdf").asText("");
                if (!id.equals(info.path("id").asText()) || !KATA_BDF.matcher(bdf).matches()) {
                    removeQuietly(id);
                    throw new VmmUnavailableException(VmmUnavailableException.Reason.PROTOCOL_ERROR,
                            "clh: vm.add-disk for '" + id + "' answered " + info + "; expected id '" + id
                                    + "' and a PCI address 0000:00:DD.0 (device removed again)");
                }
                address = Optional.of(bdf);
            }
            BlockDevice device = new BlockDevice(id, DRIVER, spec.backend(), spec.readOnly(), List.of(), queues, address);
            devices.put(id, device);
            changed.run();
            return device;
        }
    }

    @Override
    public void detach(String deviceId, Duration timeout) {
        synchronized (lock) {
            if (!devices.containsKey(deviceId)) {
                throw new RequestRejectedException(Reason.NOT_FOUND, "clh: no attached device '" + deviceId + "'");
            }
            removal.remove(deviceId, timeout, booted.getAsBoolean());
            devices.remove(deviceId);
            changed.run();
        }
    }

    @Override
    public List<BlockDevice> list() {
        synchronized (lock) {
            return List.copyOf(devices.values());
        }
    }

    @Override
    public BlockDevice move(String deviceId, IOThreadChoice target) {
        return unsupportedMove(deviceId);
    }

    /** Always throws: there are no IOThreads to move a device to. */
    public static BlockDevice unsupportedMove(String deviceId) {
        throw new UnsupportedCapabilityException(Capability.IOTHREAD_MOVE, TYPE,
                "Cloud Hypervisor has no IOThreads to move device '" + deviceId + "' to");
    }

    /** Replaces the device list with what the VMM reports (after a reattach). */
    public void restore(List<BlockDevice> fromVmm) {
        synchronized (lock) {
            devices.clear();
            fromVmm.forEach(d -> devices.put(d.id(), d));
        }
    }

    private void removeQuietly(String id) {
        removal.removeQuietly(id);
    }

    private static String imageType(String id, String format) {
        return switch (format) {
            case "raw" -> "Raw";
            case "qcow2" -> "Qcow2";
            case "vhdx" -> "Vhdx";
            case "vhd" -> "FixedVhd";
            default -> throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "clh: device '" + id
                    + "': image format '" + format + "' is not one Cloud Hypervisor reads (raw, qcow2, vhdx, vhd)");
        };
    }

    /** Cloud Hypervisor ignores affinity for queues a disk does not have; refuse it rather than drop it silently. */
    private static void checkAffinity(String id, int queues, Map<Integer, List<Integer>> affinity) {
        affinity.forEach((queue, cpus) -> {
            if (queue < 0 || queue >= queues) {
                throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "clh: device '" + id + "': queue affinity for queue "
                        + queue + ", but it has queues 0.." + (queues - 1));
            }
            if (cpus.isEmpty() || cpus.stream().anyMatch(c -> c < 0)) {
                throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "clh: device '" + id + "': queue " + queue
                        + " needs one or more host CPUs (>= 0), got " + cpus);
            }
        });
    }

}
