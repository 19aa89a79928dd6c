package io.hvspi.kit.threads;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import io.hvspi.spi.CpuSet;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import io.hvspi.spi.VmmUnavailableException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;

/**
 * A host thread's CPU affinity: {@code sched_setaffinity(2)} and
 * {@code sched_getaffinity(2)} on a thread id, called through JNA (the JDK's
 * foreign function API is a preview in Java 21, hvspi's floor). One system call
 * per change, no process spawned.
 */
public final class ThreadAffinity {
    /** Bytes of the mask passed to the kernel: room for CPU numbers up to {@link CpuSet#MAX_CPU}. */
    private static final int MASK_BYTES = (CpuSet.MAX_CPU + 1) / 8;
    private static final int ESRCH = 3;
    private static final int EINVAL = 22;
    private static final int EPERM = 1;

    /** The two calls, from the C library. */
    interface LibC extends Library {
        int sched_setaffinity(int pid, NativeLong cpusetsize, byte[] mask) throws LastErrorException;

        int sched_getaffinity(int pid, NativeLong cpusetsize, byte[] mask) throws LastErrorException;
    }

    private static final class Holder {
        static final LibC LIBC = Native.load("c", LibC.class);
    }

    private ThreadAffinity() {}

    /**
     * Restricts thread {@code tid} to {@code cpus}. The kernel intersects the set with
     * the thread's cpuset cgroup; a set with no CPU in it is refused.
     *
     * @throws VmmUnavailableException {@code EXITED} when the thread is gone
     * @throws RequestRejectedException {@code INVALID_ARGUMENT} when the kernel refuses the set
     */
    public static void set(long tid, CpuSet cpus) {
        byte[] mask = new byte[MASK_BYTES];
        cpus.stream().forEach(c -> mask[c / 8] |= (byte) (1 << (c % 8)));
        try {
            Holder.LIBC.sched_setaffinity(Math.toIntExact(tid), new NativeLong(MASK_BYTES), mask);
        } catch (LastErrorException e) {
            throw failure("sched_setaffinity(" + tid + ", " + cpus + ")", tid, e);
        }
    }

    /** The thread's CPU set as {@code sched_getaffinity} reports it. */
    public static CpuSet get(long tid) {
        byte[] mask = new byte[MASK_BYTES];
        try {
            Holder.LIBC.sched_getaffinity(Math.toIntExact(tid), new NativeLong(MASK_BYTES), mask);
        } catch (LastErrorException e) {
            throw failure("sched_getaffinity(" + tid + ")", tid, e);
        }
        BitSet bits = BitSet.valueOf(mask);
        return CpuSet.of(bits.stream().toArray());
    }

    private static HvspiException failure(String call, long tid, LastErrorException e) {
        return switch (e.getErrorCode()) {
            case ESRCH -> new VmmUnavailableException(VmmUnavailableException.Reason.EXITED,
                    call + ": no thread " + tid);
            case EINVAL -> new RequestRejectedException(Reason.INVALID_ARGUMENT, call
                    + ": the kernel refused the set (no CPU of it is online or allowed by the thread's cpuset)");
            case EPERM -> new HvspiException(call + ": not permitted (the thread belongs to another user; needs"
                    + " CAP_SYS_NICE)");
            default -> new HvspiException(call + " failed: errno " + e.getErrorCode());
        };
    }

    /**
     * The CPUs this host has online ({@code /sys/devices/system/cpu/online}); where that
     * cannot be read, 0 to the JVM's processor count less one.
     */
    public static CpuSet hostCpus() {
        return hostCpus(Path.of("/sys/devices/system/cpu/online"));
    }

    static CpuSet hostCpus(Path online) {
        try {
            return CpuSet.parse(Files.readString(online).strip());
        } catch (IOException | IllegalArgumentException e) {
            int n = Runtime.getRuntime().availableProcessors();
            return CpuSet.parse(n == 1 ? "0" : "0-" + (n - 1));
        }
    }
}
