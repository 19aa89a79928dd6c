package io.hvspi.example.memvm;

import io.hvspi.spi.Capability;
import io.hvspi.spi.ConfigException;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmmUnavailableException;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What every memvm flavour's factory does; each flavour is one {@code @Extension}
 * subclass (pf4j indexes annotated classes only, so a packaged plugin holds
 * exactly the flavours whose sources it compiles).
 */
public abstract class MemVmFactory implements HypervisorFactory {
    private static final Pattern INSTANCE = Pattern.compile("\"instance\"\\s*:\\s*\"([0-9a-f-]+)\"");

    private final MemVmProfile profile;

    MemVmFactory(MemVmProfile profile) {
        this.profile = profile;
    }

    @Override
    public String type() {
        return profile.type();
    }

    @Override
    public String description() {
        return profile.description();
    }

    @Override
    public Set<Capability> declaredCapabilities() {
        return profile.declared();
    }

    @Override
    public Hypervisor create(VmSpec spec, HostContext host) {
        if (!spec.hypervisorType().equals(type())) {
            throw new ConfigException(null, 0, 0, "hypervisor", "memvm cannot run a '" + spec.hypervisorType() + "' spec");
        }
        if (spec.vcpus() < 1) {
            throw new ConfigException(null, 0, 0, "default_vcpus", "must be at least 1, got " + spec.vcpus());
        }
        return new MemVm(profile, spec, host);
    }

    @Override
    public Hypervisor reattach(VmRecord record, HostContext host) {
        Matcher m = INSTANCE.matcher(record.pluginState());
        return MemVmProcess.find(m.find() ? m.group(1) : "")
                .<Hypervisor>map(p -> new MemVm(profile, record, host, p))
                .orElseThrow(() -> new VmmUnavailableException(VmmUnavailableException.Reason.EXITED,
                        "memvm: VM '" + record.vmId() + "' is gone"));
    }
}
