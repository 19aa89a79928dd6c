package io.hvspi.spi;

import java.util.List;
import java.util.Optional;

/**
 * The VMM's host process and its threads, as read from the host ({@code /proc})
 * and the VMM, for placing them into cgroups or pinning them.
 *
 * @param pid the VMM's process id (for an in-process VMM, the hosting process)
 * @param threads the threads hvspi could identify
 */
public record HostThreads(long pid, List<HostThread> threads) {

    public HostThreads {
        threads = List.copyOf(threads);
    }

    /** What a thread does. */
    public enum Role {
        MAIN,
        VCPU,
        /** An IOThread the VM owns (QEMU's {@code -object iothread}). */
        IOTHREAD,
        /** A fixed per-queue IO worker of the VMM (Cloud Hypervisor {@code disk0_q0}, Dragonball {@code blk_iothread_q0}). */
        QUEUE_WORKER,
        OTHER
    }

    /**
     * @param tid host thread id
     * @param name the thread's name on the host ({@code comm})
     * @param role what it does
     * @param owner the IOThread, vCPU index or device it serves, when known
     * @param affinity its CPU set as the kernel has it ({@code Cpus_allowed_list}), when readable
     * @param cgroup where it is: the cgroup path in the hierarchy hvspi places threads into (cgroup v2,
     *               else the v1 {@code cpuset} controller), e.g. {@code /kata/io}; empty when unknown
     * @since SPI 1.1 for {@code affinity} and {@code cgroup}
     */
    public record HostThread(long tid, String name, Role role, Optional<String> owner, Optional<CpuSet> affinity,
                             Optional<String> cgroup) {
        public HostThread {
            affinity = affinity == null ? Optional.empty() : affinity;
            cgroup = cgroup == null ? Optional.empty() : cgroup;
        }

        /** A thread with no affinity or cgroup reported (the SPI 1.0 form). */
        public HostThread(long tid, String name, Role role, Optional<String> owner) {
            this(tid, name, role, owner, Optional.empty(), Optional.empty());
        }
    }

    /** The threads with the given role, in order. */
    public List<HostThread> withRole(Role role) {
        return threads.stream().filter(t -> t.role() == role).toList();
    }
}
