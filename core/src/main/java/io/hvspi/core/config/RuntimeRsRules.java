package io.hvspi.core.config;

import java.util.Map;

/**
 * runtime-rs's per-hypervisor limits and defaults, which it checks for every
 * {@code [hypervisor.NAME]} table of the file, selected or not: each plugin's
 * {@code ConfigPlugin::validate} in kata-types {@code src/config/hypervisor/}
 * ({@code qemu.rs}, {@code ch.rs}, {@code dragonball.rs}, {@code firecracker.rs},
 * {@code remote.rs}), with the constants of {@code src/config/default.rs}.
 * A table of a type runtime-rs has no plugin for is an error there too
 * ("Can not find plugin for hypervisor"), but hvspi serves third-party types, so
 * such a table is left to its plugin.
 */
final class RuntimeRsRules {
    /**
     * One plugin's limits.
     *
     * @param name how its messages name the hypervisor
     * @param defaultMemoryMib {@code default_memory} when absent or 0 ({@code adjust_config})
     * @param minMemoryMib the smallest {@code default_memory} {@code validate} accepts
     * @param maxVcpus the largest {@code default_vcpus} / {@code default_maxvcpus}
     * @param maxBridges the largest {@code default_bridges}, 0 when unchecked
     * @param jailerAllowed whether {@code jailer_path} may be set (QEMU's and CH's validate refuse it)
     */
    record Limits(String name, int defaultMemoryMib, int minMemoryMib, int maxVcpus, int maxBridges,
                  boolean jailerAllowed) {}

    /** default.rs: DEFAULT_*_MEMORY_SIZE_MB, MIN_*_MEMORY_SIZE_MB, MAX_*_VCPUS, MAX_*_PCI_BRIDGES. */
    private static final Map<String, Limits> LIMITS = Map.of(
            "qemu", new Limits("Qemu", 128, 64, 256, 5, false),
            "clh", new Limits("CH", 128, 64, 256, 5, false),
            "dragonball", new Limits("dragonball", 128, 64, 256, 0, true),
            "firecracker", new Limits("Firecracker", 128, 128, 32, 0, true),
            // remote.rs adjust_config uses MIN_REMOTE_MEMORY_SIZE_MB (64) when default_memory is 0
            "remote", new Limits("Remote", 64, 64, 32, 0, true));

    private RuntimeRsRules() {}

    /** The limits for {@code type}, or null when runtime-rs has no plugin of that name. */
    static Limits limits(String type) {
        return LIMITS.get(type);
    }

    /**
     * {@code default_memory} as runtime-rs uses it: absent or 0 is the plugin's default.
     * A long: the file's u32 goes past an int (3000000000 wrapped negative and was refused).
     */
    static long memoryMib(String type, long configured) {
        Limits l = LIMITS.get(type);
        if (configured == 0 && l != null) {
            return l.defaultMemoryMib();
        }
        return configured == 0 ? HypervisorReader.DEFAULT_MEMORY_MIB : configured;
    }

    /** Throws {@link io.hvspi.spi.ConfigException} where runtime-rs's validate refuses {@code table}. */
    static void check(String type, Map<String, Object> table, Locator at) {
        Limits l = LIMITS.get(type);
        if (l == null) {
            return;
        }
        if (table.get("default_memory") instanceof Long m && memoryMib(type, m) < l.minMemoryMib()) {
            throw at.error("default_memory", "default_memory = " + m + " is below runtime-rs's minimum for "
                    + type + ": " + l.name() + " hypervisor has minimal memory limitation " + l.minMemoryMib()
                    + " (MiB)");
        }
        if (table.get("default_maxvcpus") instanceof Long n && n > l.maxVcpus()) {
            throw at.error("default_maxvcpus", "default_maxvcpus = " + n + ": runtime-rs's " + type
                    + " supports at most " + l.maxVcpus() + " vCPUs");
        }
        if (table.get("default_vcpus") instanceof Number n && n.doubleValue() > l.maxVcpus()) {
            throw at.error("default_vcpus", "default_vcpus = " + n + ": runtime-rs's " + type
                    + " supports at most " + l.maxVcpus() + " vCPUs");
        }
        if (l.maxBridges() > 0 && table.get("default_bridges") instanceof Long n && n > l.maxBridges()) {
            throw at.error("default_bridges", "default_bridges = " + n + ": runtime-rs's " + type
                    + " supports at most " + l.maxBridges() + " PCI bridges");
        }
        if (!l.jailerAllowed() && table.get("jailer_path") instanceof String s && !s.isEmpty()) {
            throw at.error("jailer_path", "runtime-rs refuses a jailer for " + type + ": Path for " + l.name()
                    + " jailer should be empty");
        }
        if ("qemu".equals(type) && Boolean.TRUE.equals(table.get("enable_guest_swap"))) {
            throw at.error("enable_guest_swap", "runtime-rs refuses it: Qemu hypervisor doesn't support"
                    + " enable_guest_swap");
        }
    }
}
