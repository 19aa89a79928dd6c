package io.hvspi.plugin.clh;

import io.hvspi.spi.ConfigException;
import io.hvspi.spi.HostContext;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/**
 * The plugin's timeouts and sizes. Defaults are Kata's (its Go runtime's
 * {@code clh.go}): 1 s for an API call, 5 s for a hotplug call, 10 s for
 * {@code vm.create} and {@code vm.boot}, 10 s for the VMM to answer after spawn,
 * 3 s for it to exit when stopped. Each can be set in the {@code [hypervisor.clh]}
 * table (hvspi's own keys; Kata ignores them) or, overriding that, by a host
 * option of the same name ({@link HostContext#option(String)}).
 *
 * @param apiTimeout one API call ({@value #API_TIMEOUT_KEY})
 * @param hotplugTimeout {@code vm.add-disk} and {@code vm.remove-device} ({@value #HOTPLUG_TIMEOUT_KEY})
 * @param bootTimeout {@code vm.create} and {@code vm.boot} ({@value #BOOT_TIMEOUT_KEY})
 * @param startTimeout from spawn until {@code vmm.ping} answers ({@value #START_TIMEOUT_KEY})
 * @param stopTimeout from {@code vmm.shutdown} until the process is gone, before it is killed ({@value #STOP_TIMEOUT_KEY})
 * @param maxVcpus {@code default_maxvcpus} (Kata's key), at least the boot vCPUs; 0 for the boot vCPUs
 */
public record ClhSettings(Duration apiTimeout, Duration hotplugTimeout, Duration bootTimeout, Duration startTimeout,
                          Duration stopTimeout, int maxVcpus) {
    public static final String API_TIMEOUT_KEY = "api_timeout_ms";
    public static final String HOTPLUG_TIMEOUT_KEY = "hotplug_timeout_ms";
    public static final String BOOT_TIMEOUT_KEY = "boot_timeout_ms";
    public static final String START_TIMEOUT_KEY = "start_timeout_ms";
    public static final String STOP_TIMEOUT_KEY = "stop_timeout_ms";

    /**
     * Kata: clhAPITimeout 1 s, clhHotPlugAPITimeout 5 s, clhCreateAndBootVMMinimumTimeout 10 s,
     * clhTimeout 10 s (VMM start), clhStopSandboxTimeout 3 s.
     */
    public static final ClhSettings KATA_DEFAULTS = new ClhSettings(Duration.ofSeconds(1), Duration.ofSeconds(5),
            Duration.ofSeconds(10), Duration.ofSeconds(10), Duration.ofSeconds(3), 0);

    /** Reads the settings from the hypervisor table and the host options; refuses values that are not positive integers. */
    public static ClhSettings from(Map<String, Object> table, HostContext host) {
        return new ClhSettings(
                millis(table, host, API_TIMEOUT_KEY, KATA_DEFAULTS.apiTimeout()),
                millis(table, host, HOTPLUG_TIMEOUT_KEY, KATA_DEFAULTS.hotplugTimeout()),
                millis(table, host, BOOT_TIMEOUT_KEY, KATA_DEFAULTS.bootTimeout()),
                millis(table, host, START_TIMEOUT_KEY, KATA_DEFAULTS.startTimeout()),
                millis(table, host, STOP_TIMEOUT_KEY, KATA_DEFAULTS.stopTimeout()),
                table.get("default_maxvcpus") instanceof Number n ? (int) Math.max(0, n.longValue()) : 0);
    }

    private static Duration millis(Map<String, Object> table, HostContext host, String key, Duration fallback) {
        Optional<String> option = host.option(key);
        Object value = option.isPresent() ? option.get() : table.get(key);
        if (value == null) {
            return fallback;
        }
        try {
            long ms = value instanceof Number n ? n.longValue() : Long.parseLong(value.toString().strip());
            if (ms > 0) {
                return Duration.ofMillis(ms);
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new ConfigException(null, 0, 0, "hypervisor.clh." + key,
                "expected a positive number of milliseconds, got '" + value + "'");
    }
}
