package io.hvspi.core.config;

import io.hvspi.spi.CpuSet;
import io.hvspi.spi.VmSpec.ThreadPlacement;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * hvspi's thread placement keys, named in the style of Kata's IOThread keys:
 * {@code indep_iothreads_cpus} (the pool's CPU set, e.g. {@code "0-3,6"}),
 * {@code indep_iothreads_cgroup} and {@code vcpu_threads_cgroup} (cgroup paths
 * such as {@code "/kata/io"}). {@code ""} means absent, as Kata reads strings. A
 * CPU set naming a CPU this host does not have is refused here, with the key's
 * file and line. None is settable by annotation: a pod must not choose host CPUs
 * or cgroups.
 */
final class PlacementReader {
    static final String CPUS = "indep_iothreads_cpus";
    static final String IO_CGROUP = "indep_iothreads_cgroup";
    static final String VCPU_CGROUP = "vcpu_threads_cgroup";
    static final List<String> KEYS = List.of(CPUS, IO_CGROUP, VCPU_CGROUP);
    private static final Path ONLINE = Path.of("/sys/devices/system/cpu/online");

    private PlacementReader() {}

    /** The placement the table asks for, checked against {@code hostCpus}. */
    static ThreadPlacement read(Map<String, Object> table, Locator at, CpuSet hostCpus) {
        Optional<CpuSet> cpus = string(table, at, CPUS).map(text -> {
            CpuSet set;
            try {
                set = CpuSet.parse(text);
            } catch (IllegalArgumentException e) {
                throw at.error(CPUS, e.getMessage());
            }
            List<Integer> missing = set.missingFrom(hostCpus);
            if (!missing.isEmpty()) {
                throw at.error(CPUS, Locator.show(text) + " names CPU" + (missing.size() == 1 ? " " : "s ")
                        + CpuSet.of(missing.stream().mapToInt(i -> i).toArray()) + " that this host does not have"
                        + " (online: " + hostCpus + ")");
            }
            return set;
        });
        return new ThreadPlacement(cpus, cgroup(table, at, IO_CGROUP), cgroup(table, at, VCPU_CGROUP));
    }

    /** Keys that are set but have no effect here. */
    static List<ConfigNote> notes(HypervisorConfig h, Map<String, Object> table, Locator at) {
        List<ConfigNote> notes = new ArrayList<>();
        boolean noPool = HypervisorRules.withoutIoThreads(at.type()) || h.ioThreads().poolSize() == 0;
        for (String key : List.of(CPUS, IO_CGROUP)) {
            if (present(table, key) && noPool) {
                notes.add(at.note(key, key + " has no effect: there is no IOThread pool"
                        + ("clh".equals(at.type()) ? " (Cloud Hypervisor places a disk's queue threads with the"
                        + " disk's queue_affinity)" : " (it needs enable_iothreads = true and indep_iothreads > 0)")));
            }
        }
        if (present(table, VCPU_CGROUP) && !"qemu".equals(at.type())) {
            notes.add(at.note(VCPU_CGROUP, VCPU_CGROUP + " is applied by hvspi's QEMU plugin only; for "
                    + at.type() + " place the threads hostThreads() lists"));
        }
        return notes;
    }

    /** The CPUs this host has online; where that cannot be read, 0 to the processor count less one. */
    static CpuSet hostCpus() {
        try {
            return CpuSet.parse(Files.readString(ONLINE).strip());
        } catch (IOException | IllegalArgumentException e) {
            int n = Runtime.getRuntime().availableProcessors();
            return CpuSet.parse(n == 1 ? "0" : "0-" + (n - 1));
        }
    }

    private static boolean present(Map<String, Object> table, String key) {
        return table.get(key) instanceof String s && !s.isEmpty();
    }

    private static Optional<String> string(Map<String, Object> table, Locator at, String key) {
        Object v = table.get(key);
        if (v == null) {
            return Optional.empty();
        }
        if (!(v instanceof String s)) {
            throw at.error(key, "expected a string, got " + Locator.show(v));
        }
        return s.isEmpty() ? Optional.empty() : Optional.of(s);
    }

    private static Optional<String> cgroup(Map<String, Object> table, Locator at, String key) {
        return string(table, at, key).map(path -> {
            try {
                return ThreadPlacement.checkCgroup(path, key);
            } catch (IllegalArgumentException e) {
                throw at.error(key, "expected a cgroup path such as \"/kata/io\" (absolute, no '.' or '..'"
                        + " parts), got " + Locator.show(path));
            }
        });
    }
}
