package io.hvspi.plugin.qemu.state;

import java.util.List;
import java.util.Objects;

/**
 * One hotplugged block device, as QEMU confirmed it.
 *
 * @param id the device's qdev id
 * @param driver QEMU's device type ({@code virtio-blk-pci}, {@code scsi-hd})
 * @param nodeName the block node it uses (hvspi made it with {@code blockdev-add})
 * @param backend what the node reads and writes: {@code null} or a host path
 * @param path the host path, for a path backend
 * @param sizeBytes the size, for a null backend
 * @param format {@code raw} or {@code qcow2}
 * @param readOnly read-only
 * @param direct {@code cache.direct}
 * @param ioThreads the IOThread(s) serving it; empty for the main loop
 * @param queues its queue count
 * @param bus the root port ({@code rp3}) or SCSI bus ({@code scsi0.0}) it sits on
 * @param lun the SCSI LUN, for a {@code scsi-hd}; 0 otherwise
 * @param unplugging {@code device_del} was sent and QEMU has not confirmed yet
 */
public record DeviceState(String id, String driver, String nodeName, String backend, String path, long sizeBytes,
                          String format, boolean readOnly, boolean direct, List<String> ioThreads, int queues,
                          String bus, int lun, boolean unplugging) {
    public static final String BACKEND_NULL = "null";
    public static final String BACKEND_PATH = "path";

    public DeviceState {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(driver, "driver");
        Objects.requireNonNull(nodeName, "nodeName");
        Objects.requireNonNull(backend, "backend");
        Objects.requireNonNull(bus, "bus");
        ioThreads = List.copyOf(ioThreads);
    }

    public DeviceState withIoThreads(List<String> newIoThreads) {
        return new DeviceState(id, driver, nodeName, backend, path, sizeBytes, format, readOnly, direct, newIoThreads,
                queues, bus, lun, unplugging);
    }

    public DeviceState withUnplugging(boolean value) {
        return new DeviceState(id, driver, nodeName, backend, path, sizeBytes, format, readOnly, direct, ioThreads,
                queues, bus, lun, value);
    }
}
