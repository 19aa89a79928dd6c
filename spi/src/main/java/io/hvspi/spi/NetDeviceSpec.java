package io.hvspi.spi;

import java.util.Objects;
import java.util.Optional;

/**
 * A network device to attach.
 *
 * @param id the device id, unique in the VM among all devices; checked against the VMM's id grammar
 * @param backend the host end
 * @param mac the guest-visible MAC ({@code 52:54:00:12:34:56} form, either case; reported lower case);
 *            empty for one the plugin generates (locally administered unicast, unique on this host).
 *            {@link NetworkHotplug#attach} refuses a multicast MAC (bit 0 of the first octet set) or a
 *            malformed one with {@link RequestRejectedException} {@code INVALID_ARGUMENT}
 * @param queues queue pairs; more than one needs {@link Capability#MULTI_QUEUE} (without it the attach
 *               fails with {@link UnsupportedCapabilityException} and leaves nothing)
 */
public record NetDeviceSpec(String id, NetBackend backend, Optional<String> mac, int queues) {

    public NetDeviceSpec {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(backend, "backend");
        Objects.requireNonNull(mac, "mac");
        if (queues < 1) {
            throw new IllegalArgumentException("queues must be at least 1, got " + queues);
        }
    }

    /** One queue pair, a generated MAC. */
    public static NetDeviceSpec of(String id, NetBackend backend) {
        return new NetDeviceSpec(id, backend, Optional.empty(), 1);
    }

    /** A copy with this MAC. */
    public NetDeviceSpec withMac(String mac) {
        return new NetDeviceSpec(id, backend, Optional.of(mac), queues);
    }

    /** A copy with this many queue pairs. */
    public NetDeviceSpec withQueues(int queues) {
        return new NetDeviceSpec(id, backend, mac, queues);
    }
}
