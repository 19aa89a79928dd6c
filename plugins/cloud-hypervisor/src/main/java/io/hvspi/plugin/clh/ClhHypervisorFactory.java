package io.hvspi.plugin.clh;

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

/** Cloud Hypervisor over its REST API. No IOThread pool: one thread per disk queue. */
@Extension
public final class ClhHypervisorFactory implements HypervisorFactory {

    /** Kata's Cloud Hypervisor bits (runtime-rs), multi-queue, and its fixed per-queue threads. */
    static final Set<Capability> DECLARED = Set.copyOf(EnumSet.of(
            BLOCK_DEVICE, BLOCK_DEVICE_HOTPLUG, BLOCK_DEVICE_DISCARD, MULTI_QUEUE, NETWORK_DEVICE_HOTPLUG,
            FS_SHARING, HYBRID_VSOCK, PER_QUEUE_IO_THREADS, QUEUE_AFFINITY));

    @Override
    public String type() {
        return "clh";
    }

    @Override
    public String description() {
        return "Cloud Hypervisor over its REST API on a Unix socket";
    }

    @Override
    public Set<Capability> declaredCapabilities() {
        return DECLARED;
    }

    @Override
    public Hypervisor create(VmSpec spec, HostContext host) {
        throw new PluginException("clh: VM operations are not implemented yet");
    }

    @Override
    public Hypervisor reattach(VmRecord record, HostContext host) {
        throw new PluginException("clh: VM operations are not implemented yet");
    }
}
