package io.hvspi.core.config;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Rules across keys of a typed hypervisor table: the few combinations Kata
 * refuses (errors) and the keys that have no effect (warnings). They run after
 * the file is read and again after annotations are applied.
 */
final class HypervisorRules {
    /** The Go runtime's smallest accepted memory; below it the Go runtime uses the default. */
    static final int GO_MIN_MEMORY_MIB = 256;

    private HypervisorRules() {}

    /** Throws {@link io.hvspi.spi.ConfigException} for a refused combination, else returns the warnings. */
    static List<ConfigNote> check(HypervisorConfig h, Map<String, Object> table, Locator at) {
        String type = at.type();
        if (h.image().isPresent() && h.initrd().isPresent()) {
            throw at.error("initrd", "having both an image and an initrd is not supported (Kata refuses it too)");
        }
        if ("dragonball".equals(type) && h.enableIothreads()) {
            throw at.error("enable_iothreads", "dragonball hypervisor doesn't support IO threads (Dragonball runs"
                    + " one blk_iothread_q<i> thread per block queue)");
        }
        List<ConfigNote> notes = new ArrayList<>();
        if (withoutIoThreads(type)) {
            ioThreadKeysIgnored(h, table, at, notes);
        } else {
            poolRules(h, table, at, notes);
        }
        if (table.get("default_bridges") instanceof Long n && n > HypervisorReader.MAX_BRIDGES) {
            notes.add(at.note("default_bridges", "default_bridges = " + n + ": Kata uses at most "
                    + HypervisorReader.MAX_BRIDGES + " PCI bridges, so " + HypervisorReader.MAX_BRIDGES));
        }
        if (at.runtime() == KataRuntime.RUNTIME_RS) {
            RuntimeRsRules.check(type, table, at); // again: annotations may have changed the table
        } else if (table.get("default_memory") instanceof Long m && m > 0 && m < GO_MIN_MEMORY_MIB) {
            notes.add(at.note("default_memory", "default_memory = " + m + " is below the Go runtime's minimum of "
                    + GO_MIN_MEMORY_MIB + " MiB: the Go runtime (katautils/config.go: defaultMemSz) and hvspi use "
                    + HypervisorReader.DEFAULT_MEMORY_MIB + " MiB instead"));
        }
        vcpuRules(h, table, at, notes);
        for (String key : table.keySet()) {
            if (KnownKeys.kata(at.runtime(), "template-only").contains(key)) {
                notes.add(at.note(key, "Kata's " + at.runtime().key() + " templates write " + key + ", but the "
                        + at.runtime().key() + " runtime does not read it (no such field in its configuration"
                        + " struct): it has no effect"));
            }
        }
        notes.addAll(AnnotationPatterns.problems(h.enableAnnotations(), at));
        return List.copyOf(notes);
    }

    /**
     * {@code default_vcpus} above {@code default_maxvcpus}: runtime-rs lowers the
     * vCPUs to the maximum ({@code CpuInfo::adjust_config}); the Go runtime passes
     * both on and QEMU's command line is refused (govmm {@code qemu.go}: "MaxCPUs
     * must be equal to or greater than CPUs"), so hvspi refuses the file.
     */
    private static void vcpuRules(HypervisorConfig h, Map<String, Object> table, Locator at, List<ConfigNote> notes) {
        int host = Runtime.getRuntime().availableProcessors();
        int vcpus = h.vcpus(host);
        int max = h.maxVcpus(host);
        if (vcpus <= max) {
            return;
        }
        if (at.runtime() == KataRuntime.RUNTIME_RS) {
            notes.add(at.note("default_vcpus", "default_vcpus (" + vcpus + " on this host) is above default_maxvcpus"
                    + " = " + max + ": runtime-rs and hvspi boot " + max + " vCPUs"));
        } else {
            throw at.error("default_vcpus", "default_vcpus (" + vcpus + " on this host) is above default_maxvcpus = "
                    + max + ": the Go runtime's VMM refuses more boot vCPUs than the maximum; raise default_maxvcpus"
                    + " or lower default_vcpus");
        }
    }

    /** Kata's hypervisor types that have no IOThreads of QEMU's kind. */
    static boolean withoutIoThreads(String type) {
        return switch (type) {
            case "clh", "dragonball", "firecracker", "remote" -> true;
            default -> false;
        };
    }

    private static void poolRules(HypervisorConfig h, Map<String, Object> table, Locator at, List<ConfigNote> notes) {
        int n = h.indepIothreads();
        if (n > 0 && !h.enableIothreads()) {
            notes.add(at.note("indep_iothreads", "indep_iothreads = " + n + " has no effect with enable_iothreads ="
                    + " false: runtime-rs and hvspi create no IOThread pool; the Go runtime would still create the "
                    + n + " IOThreads but never attach a device to them"));
        } else if (n > 0 && !"virtio-blk-pci".equals(h.blockDriverDevice())) {
            notes.add(at.note("indep_iothreads", "indep_iothreads = " + n + " with block_device_driver = "
                    + Locator.show(h.blockDeviceDriver()) + ": runtime-rs creates no pool unless the driver is"
                    + " virtio-blk-pci; the Go runtime and hvspi create it, and hvspi attaches only virtio-blk-pci"
                    + " devices to it"));
        }
        if (table.containsKey("indep_iothreads_policy") && h.ioThreads().poolSize() == 0) {
            notes.add(at.note("indep_iothreads_policy", "indep_iothreads_policy has no effect: there is no IOThread"
                    + " pool (it needs enable_iothreads = true and indep_iothreads > 0)"));
        }
    }

    private static void ioThreadKeysIgnored(HypervisorConfig h, Map<String, Object> table, Locator at,
                                            List<ConfigNote> notes) {
        if (h.enableIothreads()) {
            notes.add(at.note("enable_iothreads", noIoThreads(at.type(), "enable_iothreads")));
        }
        if (h.indepIothreads() > 0) {
            notes.add(at.note("indep_iothreads", noIoThreads(at.type(), "indep_iothreads")));
        }
        if (table.containsKey("indep_iothreads_policy")) {
            notes.add(at.note("indep_iothreads_policy", noIoThreads(at.type(), "indep_iothreads_policy")));
        }
    }

    private static String noIoThreads(String type, String key) {
        return switch (type) {
            case "clh" -> "Cloud Hypervisor has no IOThreads: Kata ignores " + key + " for [hypervisor.clh];"
                    + " Cloud Hypervisor runs one thread per disk queue (<disk id>_q<i>)";
            case "dragonball" -> "Dragonball has no IOThreads: " + key + " has no effect; Dragonball runs one"
                    + " blk_iothread_q<i> thread per block queue";
            default -> type + " has no IOThreads: " + key + " has no effect";
        };
    }
}
