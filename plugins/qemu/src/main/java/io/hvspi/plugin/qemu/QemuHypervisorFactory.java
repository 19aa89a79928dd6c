package io.hvspi.plugin.qemu;

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

/** QEMU, driven over QMP, with Kata's independent IOThread pool and hvspi's placement. */
@Extension
public final class QemuHypervisorFactory implements HypervisorFactory {

    /** Kata's QEMU bits (runtime-rs, plus the Go runtime's multi-queue) and the IOThread family. */
    static final Set<Capability> DECLARED = Set.copyOf(EnumSet.of(
            BLOCK_DEVICE, BLOCK_DEVICE_HOTPLUG, BLOCK_DEVICE_DISCARD, MULTI_QUEUE, NETWORK_DEVICE_HOTPLUG,
            FS_SHARING, INDEPENDENT_IOTHREADS, IOTHREAD_RUNTIME_ADD, IOTHREAD_POLLING, IOTHREAD_VQ_MAPPING,
            IOTHREAD_MOVE));

    @Override
    public String type() {
        return "qemu";
    }

    @Override
    public String description() {
        return "QEMU over QMP, with independent IOThreads";
    }

    @Override
    public Set<Capability> declaredCapabilities() {
        return DECLARED;
    }

    @Override
    public Hypervisor create(VmSpec spec, HostContext host) {
        throw new PluginException("qemu: VM operations are not implemented yet");
    }

    @Override
    public Hypervisor reattach(VmRecord record, HostContext host) {
        throw new PluginException("qemu: VM operations are not implemented yet");
    }
}
