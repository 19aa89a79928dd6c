package io.hvspi.tck.backend;

import io.hvspi.spi.HypervisorFactory;
import java.nio.file.Path;

/**
 * For a plugin the kit knows nothing about (a third party's): the default
 * {@link io.hvspi.spi.VmSpec}, no {@code endpoint}, so the plugin starts its VMM
 * as it would in production. The spec's binary is the type's name; a plugin that
 * needs a path reads its own key from the table or its environment.
 */
public final class GenericTckBackend extends BaseTckBackend {
    private final boolean realHostThreads;

    public GenericTckBackend(HypervisorFactory factory, Path workDir) {
        this(factory, workDir, true);
    }

    /** @param realHostThreads whether the plugin's thread ids are real host threads the kit can check */
    public GenericTckBackend(HypervisorFactory factory, Path workDir, boolean realHostThreads) {
        super(factory, workDir);
        this.realHostThreads = realHostThreads;
    }

    @Override
    protected Path binary() {
        return Path.of(factory().type());
    }

    @Override
    public String describe() {
        return "plugin defaults (no endpoint), accel=tcg, no guest";
    }

    @Override
    public boolean realHostThreads() {
        return realHostThreads;
    }
}
