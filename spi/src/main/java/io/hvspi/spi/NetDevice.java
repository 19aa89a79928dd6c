package io.hvspi.spi;

import java.util.Objects;
import java.util.Optional;

/**
 * An attached network device, as the VMM confirmed it.
 *
 * @param id the device id
 * @param mac the guest-visible MAC, lower case, colon separated
 * @param backend the host end
 * @param queues queue pairs
 * @param address where it sits, in the VMM's terms (QEMU {@code rp1:00.0}, Cloud Hypervisor bdf {@code 0000:00:06.0})
 */
public record NetDevice(String id, String mac, NetBackend backend, int queues, Optional<String> address) {
    public NetDevice {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(mac, "mac");
        Objects.requireNonNull(backend, "backend");
        Objects.requireNonNull(address, "address");
    }
}
