package io.hvspi.plugin.qemu.state;

import java.util.Objects;

/**
 * One hotplugged network device, as QEMU confirmed it (or, in a {@link Intent.Op#NIC_ATTACH}
 * intent, as it will be recorded once QEMU does).
 *
 * @param id the virtio-net-pci device's qdev id
 * @param netdev the id of its tap netdev ({@code netdev_add})
 * @param tap the host tap's name
 * @param createdTap true when hvspi created the tap, and so removes it with the device or the VM
 * @param mac the guest-visible MAC
 * @param queues queue pairs
 * @param bus the root port it sits on
 * @param unplugging {@code device_del} was sent and QEMU has not confirmed yet
 */
public record NicState(String id, String netdev, String tap, boolean createdTap, String mac, int queues, String bus,
                       boolean unplugging) {
    public NicState {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(netdev, "netdev");
        Objects.requireNonNull(tap, "tap");
        Objects.requireNonNull(mac, "mac");
        Objects.requireNonNull(bus, "bus");
    }

    public NicState withUnplugging(boolean value) {
        return new NicState(id, netdev, tap, createdTap, mac, queues, bus, value);
    }
}
