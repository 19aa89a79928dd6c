package io.hvspi.kit.device;

import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Capability;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.UnsupportedCapabilityException;
import java.util.EnumMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Refuses a block device spec that asks for a capability the VM does not have,
 * with {@link UnsupportedCapabilityException} naming the capability: a named
 * IOThread ({@link Capability#INDEPENDENT_IOTHREADS}), a vq-mapping
 * ({@link Capability#IOTHREAD_VQ_MAPPING}), more than one queue
 * ({@link Capability#MULTI_QUEUE}), a queue affinity ({@link Capability#QUEUE_AFFINITY}).
 * The plugin may add why its VMM lacks each, so the error tells the user what to do instead.
 */
public final class DeviceSpecGuard {
    private final String type;
    private final Set<Capability> capabilities;
    private final Map<Capability, String> reasons;

    private DeviceSpecGuard(String type, Set<Capability> capabilities, Map<Capability, String> reasons) {
        this.type = type;
        this.capabilities = Set.copyOf(capabilities);
        this.reasons = Map.copyOf(reasons);
    }

    /** A guard for a VM with {@code capabilities}. */
    public static DeviceSpecGuard of(String type, Set<Capability> capabilities) {
        return new DeviceSpecGuard(type, capabilities, Map.of());
    }

    /** A copy that explains a missing {@code capability} with {@code reason}. */
    public DeviceSpecGuard because(Capability capability, String reason) {
        Map<Capability, String> more = new EnumMap<>(Capability.class);
        more.putAll(reasons);
        more.put(capability, reason);
        return new DeviceSpecGuard(type, capabilities, more);
    }

    /** Returns {@code spec} when the VM can serve every capability it asks for. */
    public BlockDeviceSpec check(BlockDeviceSpec spec) {
        for (Capability asked : asked(spec)) {
            if (!capabilities.contains(asked)) {
                String detail = "device '" + spec.id() + "'"
                        + Optional.ofNullable(reasons.get(asked)).map(r -> ": " + r).orElse("");
                throw new UnsupportedCapabilityException(asked, type, detail);
            }
        }
        return spec;
    }

    /**
     * The capabilities {@code spec} needs beyond a plain block device, the IOThread choice
     * first: it is the root of the others (a vq-mapping asks for queues too), so the error
     * names it.
     */
    public static Set<Capability> asked(BlockDeviceSpec spec) {
        Set<Capability> asked = new LinkedHashSet<>();
        switch (spec.ioThread()) {
            case IOThreadChoice.Named n -> asked.add(Capability.INDEPENDENT_IOTHREADS);
            case IOThreadChoice.VqMapped v -> asked.add(Capability.IOTHREAD_VQ_MAPPING);
            case IOThreadChoice.ByPolicy p -> { }
            case IOThreadChoice.MainLoop m -> { }
        }
        if (spec.queues().isPresent() && spec.queues().getAsInt() > 1) {
            asked.add(Capability.MULTI_QUEUE);
        }
        if (!spec.queueAffinity().isEmpty()) {
            asked.add(Capability.QUEUE_AFFINITY);
        }
        return asked;
    }
}
