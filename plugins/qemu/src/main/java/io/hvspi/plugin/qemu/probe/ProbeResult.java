package io.hvspi.plugin.qemu.probe;

import static io.hvspi.spi.Capability.*;

import io.hvspi.plugin.qemu.qmp.QemuVersion;
import io.hvspi.spi.Capability;
import java.util.EnumSet;
import java.util.Set;

/**
 * What a QEMU binary can do, as its QMP answers say.
 *
 * @param version from {@code query-version}
 * @param packageName the distribution's package string from {@code query-version}
 * @param commands the names {@code query-commands} lists
 * @param virtioBlkProperties the property names {@code device-list-properties virtio-blk-pci} lists
 */
public record ProbeResult(QemuVersion version, String packageName, Set<String> commands,
                          Set<String> virtioBlkProperties) {

    public ProbeResult {
        commands = Set.copyOf(commands);
        virtioBlkProperties = Set.copyOf(virtioBlkProperties);
    }

    /** True when virtio-blk-pci spreads its queues over several IOThreads (QEMU 9.0+). */
    public boolean hasVqMapping() {
        return virtioBlkProperties.contains("iothread-vq-mapping");
    }

    /**
     * The capabilities this binary backs; {@code declared} narrowed to them. A
     * capability the probe has nothing to say about (network hotplug, fs sharing)
     * is kept as declared.
     */
    public Set<Capability> narrow(Set<Capability> declared) {
        boolean hotplug = commands.containsAll(Set.of("blockdev-add", "blockdev-del", "device_add", "device_del"))
                && virtioBlkProperties.contains("drive");
        boolean iothreads = virtioBlkProperties.contains("iothread") && commands.contains("query-iothreads");
        Set<Capability> out = EnumSet.noneOf(Capability.class);
        for (Capability c : declared) {
            boolean backed = switch (c) {
                case BLOCK_DEVICE -> virtioBlkProperties.contains("drive");
                case BLOCK_DEVICE_HOTPLUG -> hotplug;
                case BLOCK_DEVICE_DISCARD -> virtioBlkProperties.contains("discard");
                case MULTI_QUEUE -> virtioBlkProperties.contains("num-queues");
                case NETWORK_DEVICE_HOTPLUG, FS_SHARING, HYBRID_VSOCK, GUEST_MEMORY_PROBE -> true;
                case INDEPENDENT_IOTHREADS -> iothreads;
                case IOTHREAD_RUNTIME_ADD -> iothreads && commands.containsAll(Set.of("object-add", "object-del"));
                case IOTHREAD_POLLING -> iothreads && commands.contains("qom-set");
                case IOTHREAD_VQ_MAPPING -> iothreads && hotplug && hasVqMapping();
                // a move is an unplug and replug of the same node, never x-blockdev-set-iothread
                case IOTHREAD_MOVE -> iothreads && hotplug;
                case PER_QUEUE_IO_THREADS, QUEUE_AFFINITY -> false;
                // sched_setaffinity on query-iothreads' thread-id: any QEMU with IOThreads
                case IOTHREAD_PINNING -> iothreads;
            };
            if (backed) {
                out.add(c);
            }
        }
        return out;
    }
}
