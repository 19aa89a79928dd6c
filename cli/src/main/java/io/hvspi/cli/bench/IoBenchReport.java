package io.hvspi.cli.bench;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What {@code hvctl bench io} measured: guest IOPS and host CPU time for each
 * (mode, disk count) case, each on a freshly booted test guest.
 *
 * @param machine where it ran
 * @param settings what every case did
 * @param cases one per (mode, disk count), disk counts outer, modes inner
 */
public record IoBenchReport(Machine machine, Settings settings, List<Case> cases) {
    public IoBenchReport {
        cases = List.copyOf(cases);
    }

    /**
     * @param cpu the host CPU model
     * @param cores the host cores the JVM sees
     * @param qemu the QEMU binary's version line
     * @param accel the accelerator the guests ran under
     * @param java the JVM's version
     * @param guestKernel the test guest's kernel ({@code uname -r})
     * @param vcpus vCPUs per guest
     * @param memoryMib memory per guest
     */
    public record Machine(String cpu, int cores, String qemu, String accel, String java, String guestKernel,
                          int vcpus, int memoryMib) {}

    /**
     * @param disks the disk counts
     * @param modes the modes' keys
     * @param runtimeSeconds fio's runtime per case
     * @param poolSize independent IOThreads per guest (the largest disk count), in every mode
     * @param backend what each disk is
     * @param fio the fio job inside the guest
     */
    public record Settings(List<Integer> disks, List<String> modes, int runtimeSeconds, int poolSize, String backend,
                           String fio) {
        public Settings {
            disks = List.copyOf(disks);
            modes = List.copyOf(modes);
        }
    }

    /**
     * @param mode the mode's key
     * @param disks how many disks fio ran on at once
     * @param iops read IOPS over all disks, as fio reports them
     * @param bandwidthKib KiB/s over all disks
     * @param latencyMicros fio's mean completion latency per IO
     * @param fioMillis how long fio ran
     * @param bootSeconds QEMU spawn to the guest's READY line
     * @param windowSeconds wall time between the two CPU samples: the fio command's round trip, fio's start in
     *                      the guest included
     * @param hostLoad the host's 1-minute load average when fio ended (this run's QEMU included): on a shared
     *                 machine, how much else wanted the cores
     * @param placement each disk's IOThreads as hvspi attached it (empty: the main loop)
     * @param cpu CPU seconds of QEMU's threads by role during the window
     * @param threads every QEMU thread's CPU seconds during the window
     */
    public record Case(String mode, int disks, long iops, long bandwidthKib, double latencyMicros, long fioMillis,
                       double bootSeconds, double windowSeconds, double hostLoad, Map<String, List<String>> placement,
                       Cpu cpu,
                       List<ThreadUsage> threads) {
        public Case {
            placement = Collections.unmodifiableMap(new LinkedHashMap<>(placement));
            threads = List.copyOf(threads);
        }
    }

    /**
     * CPU seconds (user plus system) by thread role.
     *
     * @param vcpu the vCPU threads (under TCG: the guest's emulation)
     * @param ioThreads the independent IOThreads
     * @param main QEMU's main loop thread
     * @param other every other QEMU thread (RCU, worker pools)
     */
    public record Cpu(double vcpu, double ioThreads, double main, double other) {}

    /**
     * @param tid the host thread id
     * @param name its name on the host
     * @param role MAIN, VCPU, IOTHREAD or OTHER
     * @param owner the IOThread or vCPU it serves, or empty
     * @param cpuSeconds its CPU seconds during the window
     */
    public record ThreadUsage(long tid, String name, String role, String owner, double cpuSeconds) {}
}
