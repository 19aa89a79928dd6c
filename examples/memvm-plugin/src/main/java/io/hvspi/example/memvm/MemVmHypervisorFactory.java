package io.hvspi.example.memvm;

import org.pf4j.Extension;

/**
 * memvm: a VMM that lives in the host's JVM, with real host threads for its
 * main loop, vCPUs and IOThreads, and an independent IOThread pool. It is the
 * worked example of a third-party plugin (docs/plugin-guide.md) and the kit's
 * own proof that its contracts can pass and can fail.
 */
@Extension
public class MemVmHypervisorFactory extends MemVmFactory {
    /** pf4j instantiates extensions through a public no-argument constructor. */
    public MemVmHypervisorFactory() {
        super(MemVmProfile.POOL);
    }
}
