package io.hvspi.tck;

import static io.hvspi.spi.Capability.*;

import io.hvspi.spi.Capability;
import java.util.EnumSet;
import java.util.Set;

/**
 * How capabilities depend on each other, in the kit's own exhaustive switches:
 * adding a capability breaks the kit's build too, until someone decides here.
 */
public final class CapabilityRules {
    private CapabilityRules() {}

    /**
     * What a plugin that declares {@code c} must also declare: a declaration
     * without these is inconsistent (IOThread features without a pool, hotplug
     * without block devices).
     */
    public static Set<Capability> requires(Capability c) {
        return switch (c) {
            case BLOCK_DEVICE, NETWORK_DEVICE_HOTPLUG, FS_SHARING, HYBRID_VSOCK, GUEST_MEMORY_PROBE,
                 INDEPENDENT_IOTHREADS -> Set.of();
            case BLOCK_DEVICE_HOTPLUG, BLOCK_DEVICE_DISCARD, MULTI_QUEUE, PER_QUEUE_IO_THREADS, QUEUE_AFFINITY ->
                    Set.of(BLOCK_DEVICE);
            case IOTHREAD_RUNTIME_ADD, IOTHREAD_POLLING, IOTHREAD_PINNING -> Set.of(INDEPENDENT_IOTHREADS);
            case IOTHREAD_VQ_MAPPING -> Set.of(INDEPENDENT_IOTHREADS, MULTI_QUEUE);
            case IOTHREAD_MOVE -> Set.of(INDEPENDENT_IOTHREADS, BLOCK_DEVICE_HOTPLUG);
        };
    }

    /**
     * The capabilities the kit's operation for {@code c} goes through (the
     * {@code ioThreads()} and {@code hotplug()} views). Where one of them is
     * missing, the unsupported error may name it instead of {@code c}.
     */
    public static Set<Capability> reachedThrough(Capability c) {
        return switch (c) {
            case BLOCK_DEVICE_HOTPLUG, NETWORK_DEVICE_HOTPLUG, FS_SHARING, HYBRID_VSOCK, GUEST_MEMORY_PROBE,
                 INDEPENDENT_IOTHREADS -> Set.of();
            // block devices, and everything about them, are reached through hotplug()
            case BLOCK_DEVICE, BLOCK_DEVICE_DISCARD, MULTI_QUEUE, PER_QUEUE_IO_THREADS, QUEUE_AFFINITY ->
                    Set.of(BLOCK_DEVICE_HOTPLUG);
            case IOTHREAD_RUNTIME_ADD, IOTHREAD_POLLING, IOTHREAD_PINNING -> Set.of(INDEPENDENT_IOTHREADS);
            case IOTHREAD_VQ_MAPPING, IOTHREAD_MOVE -> Set.of(INDEPENDENT_IOTHREADS, BLOCK_DEVICE_HOTPLUG);
        };
    }

    /** Every capability {@code c} transitively requires. */
    public static Set<Capability> allRequired(Capability c) {
        Set<Capability> out = EnumSet.noneOf(Capability.class);
        for (Capability r : requires(c)) {
            out.add(r);
            out.addAll(allRequired(r));
        }
        return out;
    }
}
