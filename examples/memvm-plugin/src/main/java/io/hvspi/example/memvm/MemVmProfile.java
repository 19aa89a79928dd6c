package io.hvspi.example.memvm;

import static io.hvspi.spi.Capability.*;

import io.hvspi.spi.Capability;
import java.util.EnumSet;
import java.util.Set;

/**
 * What a memvm flavour declares and what actually works. For an honest plugin
 * the two are equal; {@link #LIAR} differs on purpose, to prove that the kit
 * catches a wrong declaration in both directions.
 *
 * @param type the Kata table key
 * @param description for {@code hvctl plugins}
 * @param declared what the factory declares (and VMs report as effective)
 * @param works what the VMs really do
 */
record MemVmProfile(String type, String description, Set<Capability> declared, Set<Capability> works) {

    /** Like QEMU: an independent IOThread pool with every IOThread feature. */
    static final MemVmProfile POOL = honest("memvm", "in-memory VMM with an IOThread pool (hvspi's worked example)",
            EnumSet.of(BLOCK_DEVICE, BLOCK_DEVICE_HOTPLUG, MULTI_QUEUE, INDEPENDENT_IOTHREADS, IOTHREAD_RUNTIME_ADD,
                    IOTHREAD_POLLING, IOTHREAD_VQ_MAPPING, IOTHREAD_MOVE));

    /** Like Cloud Hypervisor: no pool, one worker thread per disk queue, pinnable. */
    static final MemVmProfile QUEUES = honest("memvm-queues", "in-memory VMM with per-queue IO workers",
            EnumSet.of(BLOCK_DEVICE, BLOCK_DEVICE_HOTPLUG, MULTI_QUEUE, PER_QUEUE_IO_THREADS, QUEUE_AFFINITY));

    /** Declares move but cannot; does not declare polling but silently does it. */
    static final MemVmProfile LIAR = new MemVmProfile("memvm-liar", "memvm with a wrong declaration",
            without(POOL.declared, IOTHREAD_POLLING), without(POOL.declared, IOTHREAD_MOVE));

    MemVmProfile {
        declared = Set.copyOf(declared);
        works = Set.copyOf(works);
    }

    private static MemVmProfile honest(String type, String description, Set<Capability> caps) {
        return new MemVmProfile(type, description, caps, caps);
    }

    private static Set<Capability> without(Set<Capability> caps, Capability c) {
        Set<Capability> out = EnumSet.copyOf(caps);
        out.remove(c);
        return out;
    }
}
