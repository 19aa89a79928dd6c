package io.hvspi.plugin.qemu.cmdline;

import java.util.Locale;
import java.util.Optional;

/** The block device models hvspi hotplugs, and the Kata {@code block_device_driver} names that select them. */
public enum BlockDriver {
    /** One PCI function per disk, on its own root port; takes an IOThread per device. */
    VIRTIO_BLK_PCI("virtio-blk-pci"),
    /** A {@code scsi-hd} on the VM's virtio-scsi controller; served by the controller's IOThread. */
    SCSI_HD("scsi-hd");

    private final String qemuDriver;

    BlockDriver(String qemuDriver) {
        this.qemuDriver = qemuDriver;
    }

    /** QEMU's device type name. */
    public String qemuDriver() {
        return qemuDriver;
    }

    /**
     * Maps a Kata {@code block_device_driver} value ({@code virtio-blk} in the Go runtime,
     * {@code virtio-blk-pci} in runtime-rs, {@code virtio-scsi}) or a QEMU device name
     * ({@code scsi-hd}) to a driver; empty for what hvspi cannot hotplug ({@code nvdimm},
     * {@code virtio-blk-ccw}, {@code virtio-mmio}).
     */
    public static Optional<BlockDriver> fromName(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "virtio-blk", "virtio-blk-pci" -> Optional.of(VIRTIO_BLK_PCI);
            case "virtio-scsi", "scsi-hd" -> Optional.of(SCSI_HD);
            default -> Optional.empty();
        };
    }
}
