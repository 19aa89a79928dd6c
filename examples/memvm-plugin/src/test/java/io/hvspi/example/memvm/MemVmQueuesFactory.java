package io.hvspi.example.memvm;

import org.pf4j.Extension;

/** memvm with per-queue IO workers and queue affinity instead of a pool (the Cloud Hypervisor shape). */
@Extension
public class MemVmQueuesFactory extends MemVmFactory {
    public MemVmQueuesFactory() {
        super(MemVmProfile.QUEUES);
    }
}
