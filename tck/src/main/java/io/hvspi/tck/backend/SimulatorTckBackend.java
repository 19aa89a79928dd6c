package io.hvspi.tck.backend;

import io.hvspi.spi.HostContext;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmSpec;
import io.hvspi.tck.sim.VmmSimulator;
import io.hvspi.tck.sim.VmmSimulatorProvider;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A plugin pointed at simulators: one simulator per VM (each stands for one VMM
 * process), handed to the plugin through the host option {@code endpoint}.
 * Thread ids are the simulator's inventions, so the kit does not look for them
 * under {@code /proc}.
 */
public final class SimulatorTckBackend extends BaseTckBackend {
    private final VmmSimulatorProvider provider;
    private final Map<String, Started> started = new LinkedHashMap<>();

    private record Started(VmmSimulator simulator, HostContext host) {}

    public SimulatorTckBackend(HypervisorFactory factory, VmmSimulatorProvider provider, Path workDir) {
        super(factory, workDir);
        this.provider = provider;
    }

    @Override
    protected Path binary() {
        return Path.of(provider.binaryName());
    }

    @Override
    public VmSpec vmSpec(String vmId, int poolSize, IOThreadPolicy policy) {
        return provider.adapt(super.vmSpec(vmId, poolSize, policy));
    }

    @Override
    public synchronized HostContext host(String vmId) {
        return started.computeIfAbsent(vmId, id -> {
            VmmSimulator sim = provider.start(workDir().resolve("sim").resolve(id));
            return new Started(sim, baseHost().withOption("endpoint", sim.endpoint()));
        }).host();
    }

    @Override
    public String describe() {
        return provider.describe();
    }

    @Override
    public boolean realHostThreads() {
        return false;
    }

    @Override
    public synchronized void close() {
        for (Started s : started.values()) {
            try {
                s.simulator().close();
            } catch (RuntimeException ignored) {
                // one simulator that fails to stop must not keep the others running
            }
        }
        started.clear();
        super.close();
    }
}
