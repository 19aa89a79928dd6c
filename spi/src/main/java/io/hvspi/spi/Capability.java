package io.hvspi.spi;

/**
 * Everything a hypervisor plugin may or may not support, in one enum.
 *
 * <p>The first group mirrors Kata's runtime-rs capability bits; the second is
 * hvspi's IOThread family. A plugin declares a set in
 * {@link HypervisorFactory#declaredCapabilities()}; a running VM reports the
 * effective set in {@link Hypervisor#capabilities()} (the declared set narrowed
 * by probing the real binary). Whatever is absent must fail with
 * {@link UnsupportedCapabilityException}. Adding a constant is a deliberate,
 * build-breaking change: every plugin's TCK test has an exhaustive switch here.
 */
public enum Capability {
    /** Block devices at all (cold-plugged at least). Kata: BlockDeviceSupport. */
    BLOCK_DEVICE("block device", true),
    /** Attach and detach block devices while the VM runs. Kata: BlockDeviceHotplugSupport. */
    BLOCK_DEVICE_HOTPLUG("block device hotplug", true),
    /** Discard (TRIM) passed through to the backend. Kata: BlockDeviceDiscardSupport. */
    BLOCK_DEVICE_DISCARD("block device discard", true),
    /**
     * Several queues per device: virtqueues of a block device ({@link BlockDeviceSpec#queues()})
     * and queue pairs of a network device ({@link NetDeviceSpec#queues()} above one). Without it,
     * asking for more than one fails with {@link UnsupportedCapabilityException}. Kata: MultiQueueSupport.
     */
    MULTI_QUEUE("multi-queue", true),
    /** Network device hotplug. Kata: NetworkDeviceHotplugSupport. */
    NETWORK_DEVICE_HOTPLUG("network device hotplug", true),
    /** Shared file systems (virtio-fs). Kata: FsSharingSupport. */
    FS_SHARING("fs sharing", true),
    /** Hybrid vsock (vsock over a host Unix socket). Kata: HybridVsockSupport. */
    HYBRID_VSOCK("hybrid vsock", true),
    /** Guest memory probe for hotplugged memory. Kata: GuestMemoryProbe. */
    GUEST_MEMORY_PROBE("guest memory probe", true),

    /** A pool of IOThreads that lives as long as the VM and that devices attach to. */
    INDEPENDENT_IOTHREADS("independent IOThreads", false),
    /** IOThreads added to and removed from the pool while the VM runs. */
    IOTHREAD_RUNTIME_ADD("IOThread run-time add/remove", false),
    /** Adaptive polling parameters (max ns, grow, shrink) settable per IOThread. */
    IOTHREAD_POLLING("IOThread polling tuning", false),
    /** One device's queues spread over several IOThreads (QEMU iothread-vq-mapping). */
    IOTHREAD_VQ_MAPPING("IOThread vq-mapping", false),
    /** Move an attached device to another IOThread. */
    IOTHREAD_MOVE("IOThread move", false),
    /** Fixed per-queue IO threads the VMM creates itself, listed read-only with host thread ids. */
    PER_QUEUE_IO_THREADS("per-queue IO threads", false),
    /** Host CPU affinity per device queue, set when the device is attached. */
    QUEUE_AFFINITY("queue affinity", false),
    /** Pin a pool IOThread's host thread to a CPU set ({@link IOThreadProvider#pin}), kept across reattach. */
    IOTHREAD_PINNING("IOThread pinning", false);

    private final String label;
    private final boolean kataBit;

    Capability(String label, boolean kataBit) {
        this.label = label;
        this.kataBit = kataBit;
    }

    /** A short human label, e.g. "independent IOThreads". */
    public String label() {
        return label;
    }

    /** True for the capabilities Kata's runtime itself knows. */
    public boolean isKataCapability() {
        return kataBit;
    }

    /** The kebab-case name used in JSON and on the command line, e.g. {@code independent-iothreads}. */
    public String key() {
        return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }
}
