package com.example.faulty;

import io.hvspi.spi.Capability;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmmUnavailableException;
import java.util.Map;
import java.util.Set;
import org.pf4j.Extension;

/** Three factories in one plugin, one bug each: create (npe), start (boom), attach (attach). */
public final class FaultyFactories {
    private FaultyFactories() {}

    abstract static class Base implements HypervisorFactory {
        @Override
        public Set<Capability> declaredCapabilities() {
            return Set.of(Capability.BLOCK_DEVICE, Capability.BLOCK_DEVICE_HOTPLUG);
        }

        @Override
        public Hypervisor create(VmSpec spec, HostContext host) {
            return new FaultyVm(spec.vmId(), type());
        }

        @Override
        public Hypervisor reattach(VmRecord record, HostContext host) {
            throw new VmmUnavailableException(VmmUnavailableException.Reason.EXITED, "faulty: nothing to reattach");
        }
    }

    @Extension
    public static final class Npe extends Base {
        private final Map<String, String> settings = Map.of();

        @Override public String type() { return "npe"; }

        @Override
        public Hypervisor create(VmSpec spec, HostContext host) {
            return new FaultyVm(settings.get("prefix").concat(spec.vmId()), type());
        }
    }

    @Extension
    public static final class Boom extends Base {
        @Override public String type() { return "boom"; }
    }

    @Extension
    public static final class Attach extends Base {
        @Override public String type() { return "attach"; }
    }
}
