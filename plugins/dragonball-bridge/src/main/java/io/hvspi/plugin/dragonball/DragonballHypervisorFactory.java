package io.hvspi.plugin.dragonball;

import static io.hvspi.spi.Capability.*;

import io.hvspi.spi.Capability;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.PluginException;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import java.util.EnumSet;
import java.util.Set;
import org.pf4j.Extension;

/** Dragonball through the hvspi bridge protocol. No IOThreads: one thread per block queue. */
@Extension
public final class DragonballHypervisorFactory implements HypervisorFactory {

    /** Kata's Dragonball bits (runtime-rs: no multi-queue, no network hotplug) and its per-queue threads. */
    static final Set<Capability> DECLARED = Set.copyOf(EnumSet.of(
            BLOCK_DEVICE, BLOCK_DEVICE_HOTPLUG, BLOCK_DEVICE_DISCARD, FS_SHARING, HYBRID_VSOCK,
            GUEST_MEMORY_PROBE, PER_QUEUE_IO_THREADS));

    @Override
    public String type() {
        return "dragonball";
    }

    @Override
    public String description() {
        return "Dragonball through the hvspi bridge protocol (NDJSON on a Unix socket)";
    }

    @Override
    public Set<Capability> declaredCapabilities() {
        return DECLARED;
    }

    @Override
    public Hypervisor create(VmSpec spec, HostContext host) {
        throw new PluginException("dragonball: VM operations are not implemented yet");
    }

    @Override
    public Hypervisor reattach(VmRecord record, HostContext host) {
        throw new PluginException("dragonball: VM operations are not implemented yet");
    }
}
