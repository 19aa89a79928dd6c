package io.hvspi.plugin.qemu.hotplug;

import io.hvspi.plugin.qemu.cmdline.BlockDriver;
import io.hvspi.plugin.qemu.cmdline.QemuCommandLine;
import io.hvspi.plugin.qemu.cmdline.QemuIds;
import io.hvspi.plugin.qemu.state.DeviceState;
import io.hvspi.plugin.qemu.state.NicState;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The hotplugged devices of one VM, and the places they take: root ports for
 * virtio-blk-pci, SCSI addresses for scsi-hd, block node names. An attach in
 * flight {@link #reserve reserves} its id, place and node name; QEMU's
 * confirmation turns the reservation into a device ({@link #confirm}). Shares its
 * lock with the IOThread pool.
 */
public final class DeviceTable {
    /** virtio-scsi addresses Kata's way: target {@code index / 256}, LUN {@code index % 256}. */
    public static final int LUNS_PER_TARGET = 256;
    private static final int MAX_SCSI_DISKS = 256 * LUNS_PER_TARGET;
    /** Block nodes hvspi makes are {@code hvspi-node<n>}, n counting up for the VM's whole life. */
    public static final String NODE_PREFIX = "hvspi-node";

    private final Object lock;
    private final List<String> rootPorts;
    private final boolean scsiController;
    private final Map<String, DeviceState> devices = new LinkedHashMap<>();
    private final Map<String, Slot> inFlight = new LinkedHashMap<>();
    /** Network devices, and the root ports of NIC attaches in flight by device id; they share the ports and ids. */
    private final Map<String, NicState> nics = new LinkedHashMap<>();
    private final Map<String, String> nicsInFlight = new LinkedHashMap<>();
    /** Devices in the middle of a move: unplugged on purpose, to be plugged again. */
    private final Set<String> moving = new HashSet<>();
    private long nextNode;

    /**
     * Where an attach in flight will put its device.
     *
     * @param deviceId the device id
     * @param bus the root port, or the SCSI bus
     * @param lun the SCSI disk index, for scsi-hd
     * @param nodeName the block node name to create
     */
    public record Slot(String deviceId, String bus, int lun, String nodeName) {}

    public DeviceTable(Object lock, List<String> rootPorts, boolean scsiController, long nextNode,
                       List<DeviceState> devices) {
        this(lock, rootPorts, scsiController, nextNode, devices, List.of());
    }

    public DeviceTable(Object lock, List<String> rootPorts, boolean scsiController, long nextNode,
                       List<DeviceState> devices, List<NicState> nics) {
        this.lock = lock;
        this.rootPorts = List.copyOf(rootPorts);
        this.scsiController = scsiController;
        this.nextNode = nextNode;
        for (DeviceState d : devices) {
            this.devices.put(d.id(), d);
        }
        for (NicState n : nics) {
            this.nics.put(n.id(), n);
        }
    }

    public List<String> rootPorts() {
        return rootPorts;
    }

    public boolean scsiController() {
        return scsiController;
    }

    public long nextNode() {
        synchronized (lock) {
            return nextNode;
        }
    }

    /** The devices, in attach order. */
    public List<DeviceState> list() {
        synchronized (lock) {
            return new ArrayList<>(devices.values());
        }
    }

    /** The places reserved by attaches in flight; empty when none is. */
    public List<Slot> inFlight() {
        synchronized (lock) {
            return new ArrayList<>(inFlight.values());
        }
    }

    public Optional<DeviceState> get(String id) {
        synchronized (lock) {
            return Optional.ofNullable(devices.get(id));
        }
    }

    /** The device, or NOT_FOUND naming the devices there are. */
    public DeviceState require(String id) {
        synchronized (lock) {
            DeviceState d = devices.get(id);
            if (d == null) {
                throw new RequestRejectedException(Reason.NOT_FOUND, "no hotplugged device '" + QemuIds.shown(id)
                        + "' (devices: " + String.join(", ", devices.keySet()) + ")");
            }
            return d;
        }
    }

    /**
     * Reserves an id, a place and a node name for an attach. Refuses an id that a
     * device, an attach in flight or the VM's own devices use, and a full VM.
     */
    public Slot reserve(String deviceId, BlockDriver driver) {
        synchronized (lock) {
            if (isTaken(deviceId)) {
                throw new RequestRejectedException(Reason.DUPLICATE_ID, "device id '" + deviceId + "' is taken");
            }
            Slot slot = switch (driver) {
                case VIRTIO_BLK_PCI -> new Slot(deviceId, freeRootPort(), 0, nodeName());
                case SCSI_HD -> new Slot(deviceId, QemuCommandLine.SCSI_CONTROLLER + ".0", freeLun(), nodeName());
            };
            inFlight.put(deviceId, slot);
            return slot;
        }
    }

    private boolean isTaken(String id) {
        return devices.containsKey(id) || inFlight.containsKey(id) || nics.containsKey(id)
                || nicsInFlight.containsKey(id) || isBuiltIn(id);
    }

    private boolean isBuiltIn(String id) {
        return rootPorts.contains(id) || id.equals(QemuCommandLine.SCSI_CONTROLLER)
                || id.equals(QemuCommandLine.IMAGE_ID);
    }

    private String freeRootPort() {
        Set<String> used = new HashSet<>();
        devices.values().forEach(d -> used.add(d.bus()));
        inFlight.values().forEach(s -> used.add(s.bus()));
        nics.values().forEach(n -> used.add(n.bus()));
        used.addAll(nicsInFlight.values());
        for (String port : rootPorts) {
            if (!used.contains(port)) {
                return port;
            }
        }
        throw new RequestRejectedException(Reason.EXHAUSTED, "all " + rootPorts.size()
                + " hotplug root ports are taken (raise pcie_root_port / the VM's hotplug slots)");
    }

    private int freeLun() {
        if (!scsiController) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT,
                    "the VM has no virtio-scsi controller (its block_device_driver is not virtio-scsi)");
        }
        Set<Integer> used = new HashSet<>();
        devices.values().stream().filter(d -> d.driver().equals(BlockDriver.SCSI_HD.qemuDriver()))
                .forEach(d -> used.add(d.lun()));
        inFlight.values().forEach(s -> used.add(s.lun()));
        for (int i = 0; i < MAX_SCSI_DISKS; i++) {
            if (!used.contains(i)) {
                return i;
            }
        }
        throw new RequestRejectedException(Reason.EXHAUSTED, "the virtio-scsi controller is full");
    }

    private String nodeName() {
        return NODE_PREFIX + nextNode++;
    }

    /** QEMU confirmed the device. */
    public void confirm(Slot slot, DeviceState device) {
        synchronized (lock) {
            inFlight.remove(slot.deviceId());
            devices.put(device.id(), device);
        }
    }

    /** The attach failed: frees its id and place. Idempotent. */
    public void release(Slot slot) {
        synchronized (lock) {
            inFlight.remove(slot.deviceId(), slot);
        }
    }

    /** True while this attach's reservation stands (neither confirmed nor released). */
    public boolean isReserved(Slot slot) {
        synchronized (lock) {
            return inFlight.get(slot.deviceId()) == slot;
        }
    }

    /** Replaces a device's record (same id). */
    public void replace(DeviceState device) {
        synchronized (lock) {
            devices.replace(device.id(), device);
        }
    }

    public void remove(String id) {
        synchronized (lock) {
            devices.remove(id);
            moving.remove(id);
        }
    }

    /** Marks a device as being moved; false when it already is. */
    public boolean beginMove(String id) {
        synchronized (lock) {
            return moving.add(id);
        }
    }

    public void endMove(String id) {
        synchronized (lock) {
            moving.remove(id);
        }
    }

    public boolean isMoving(String id) {
        synchronized (lock) {
            return moving.contains(id);
        }
    }

    /** The network devices, in attach order. */
    public List<NicState> nics() {
        synchronized (lock) {
            return new ArrayList<>(nics.values());
        }
    }

    public Optional<NicState> nic(String id) {
        synchronized (lock) {
            return Optional.ofNullable(nics.get(id));
        }
    }

    /** The network device, or NOT_FOUND naming the ones there are. */
    public NicState requireNic(String id) {
        synchronized (lock) {
            NicState n = nics.get(id);
            if (n == null) {
                throw new RequestRejectedException(Reason.NOT_FOUND, "no hotplugged network device '"
                        + QemuIds.shown(id) + "' (network devices: " + String.join(", ", nics.keySet()) + ")");
            }
            return n;
        }
    }

    /** Reserves an id and a root port for a NIC attach; refuses a taken id and a full VM. Returns the port. */
    public String reserveNic(String deviceId) {
        synchronized (lock) {
            if (isTaken(deviceId)) {
                throw new RequestRejectedException(Reason.DUPLICATE_ID, "device id '" + deviceId + "' is taken");
            }
            String port = freeRootPort();
            nicsInFlight.put(deviceId, port);
            return port;
        }
    }

    /** QEMU confirmed the NIC (or a reattach adopted it). */
    public void confirmNic(NicState nic) {
        synchronized (lock) {
            nicsInFlight.remove(nic.id());
            nics.put(nic.id(), nic);
        }
    }

    /** The NIC attach failed: frees its id and port. Idempotent. */
    public void releaseNic(String deviceId) {
        synchronized (lock) {
            nicsInFlight.remove(deviceId);
        }
    }

    public void replaceNic(NicState nic) {
        synchronized (lock) {
            nics.replace(nic.id(), nic);
        }
    }

    public void removeNic(String id) {
        synchronized (lock) {
            nics.remove(id);
        }
    }
}
