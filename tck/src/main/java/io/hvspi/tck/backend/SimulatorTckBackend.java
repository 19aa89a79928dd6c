package io.hvspi.tck.backend;

import io.hvspi.spi.HostContext;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmSpec;
import io.hvspi.sim.VmmSimulator;
import io.hvspi.sim.VmmSimulators;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * A plugin pointed at simulators: one simulator per VM (each stands for one VMM
 * process), handed to the plugin through the host option {@code endpoint}.
 * Thread ids are the simulator's inventions, so the kit does not look for them
 * under {@code /proc}. Cloud Hypervisor and Dragonball cannot start a VM without
 * a kernel, so the spec names an empty placeholder kernel, which a simulator only
 * opens, as the VMM would. Override {@link #vmSpec} for anything else.
 */
public class SimulatorTckBackend extends BaseTckBackend {
    private final Function<Path, VmmSimulator> starter;
    private final String description;
    private final Map<String, Started> started = new LinkedHashMap<>();

    private record Started(VmmSimulator simulator, HostContext host) {}

    /**
     * @param starter starts a simulator serving under the given fresh directory
     * @param description one line for the report, e.g. "Cloud Hypervisor v51.1 API simulator"
     */
    public SimulatorTckBackend(HypervisorFactory factory, Function<Path, VmmSimulator> starter, String description,
                               Path workDir) {
        super(factory, workDir);
        this.starter = starter;
        this.description = description;
    }

    /** The simulator hvspi registers for the factory's type ({@link VmmSimulators}). */
    public static SimulatorTckBackend registered(HypervisorFactory factory, Path workDir) {
        String type = factory.type();
        return new SimulatorTckBackend(factory, dir -> VmmSimulators.start(type, dir), type + " simulator", workDir);
    }

    @Override
    protected Path binary() {
        return Path.of(factory().type());
    }

    @Override
    public VmSpec vmSpec(String vmId, int poolSize, IOThreadPolicy policy) {
        return super.vmSpec(vmId, poolSize, policy).withGuest(Optional.of(placeholderKernel()), Optional.empty(), "");
    }

    private synchronized Path placeholderKernel() {
        checkOpen();
        Path kernel = workDir().resolve("vmlinux.placeholder");
        try {
            if (!Files.exists(kernel)) {
                Files.createDirectories(kernel.getParent());
                Files.write(kernel, new byte[0]);
            }
            return kernel;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + kernel + ": " + e.getMessage(), e);
        }
    }

    @Override
    public synchronized HostContext host(String vmId) {
        checkOpen(); // closed: no simulator is started for a run given up that goes on
        return started.computeIfAbsent(vmId, id -> {
            VmmSimulator sim = starter.apply(workDir().resolve("sim").resolve(id));
            return new Started(sim, baseHost().withOption("endpoint", sim.endpoint()));
        }).host();
    }

    /** The VM's simulator stops serving, as its VMM process would exit: the plugin is not told. */
    @Override
    public boolean killVmm(String vmId) {
        Started s;
        synchronized (this) {
            checkOpen();
            s = started.get(vmId);
        }
        if (s == null) {
            throw new IllegalStateException("VM '" + vmId + "' has no simulator to end");
        }
        s.simulator().close();
        return true;
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public boolean realHostThreads() {
        return false;
    }

    @Override
    protected synchronized void release() {
        for (Started s : started.values()) {
            try {
                s.simulator().close();
            } catch (RuntimeException ignored) {
                // one simulator that fails to stop must not keep the others running
            }
        }
        started.clear();
    }
}
