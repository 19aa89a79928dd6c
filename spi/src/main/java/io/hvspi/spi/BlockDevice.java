package io.hvspi.spi;

import java.util.List;
import java.util.Optional;

/**
 * An attached block device, as the VMM confirmed it.
 *
 * @param id the device id
 * @param driver the device model, e.g. {@code virtio-blk-pci}
 * @param backend what it reads and writes
 * @param readOnly attached read-only
 * @param ioThreads the IOThread(s) serving it; empty when the main loop does
 * @param queues how many queues it has
 * @param address where it sits, in the VMM's terms (QEMU {@code rp1:00.0}, Cloud Hypervisor bdf {@code 0000:00:06.0})
 */
public record BlockDevice(String id, String driver, BlockBackend backend, boolean readOnly, List<String> ioThreads,
                          int queues, Optional<String> address) {
    public BlockDevice {
        ioThreads = List.copyOf(ioThreads);
    }

    /** True when no IOThread serves it. */
    public boolean onMainLoop() {
        return ioThreads.isEmpty();
    }
}
