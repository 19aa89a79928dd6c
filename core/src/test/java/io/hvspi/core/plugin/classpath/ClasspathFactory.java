package io.hvspi.core.plugin.classpath;

import io.hvspi.spi.Capability;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import java.util.Set;
import org.pf4j.Extension;

/**
 * A factory on the test class path, indexed by pf4j's annotation processor into
 * this module's {@code target/test-classes/META-INF/extensions.idx}: what an
 * embedding program's own (or a dependency's) factory looks like.
 */
@Extension
public class ClasspathFactory implements HypervisorFactory {
    public static final String TYPE = "cpvmm";

    @Override
    public String type() {
        return TYPE;
    }

    @Override
    public Set<Capability> declaredCapabilities() {
        return Set.of(Capability.BLOCK_DEVICE);
    }

    @Override
    public Hypervisor create(VmSpec spec, HostContext host) {
        throw new IllegalStateException("class path factory: create");
    }

    @Override
    public Hypervisor reattach(VmRecord record, HostContext host) {
        throw new UnsupportedCapabilityException(Capability.BLOCK_DEVICE, TYPE);
    }
}
