package io.hvspi.core.host;

import java.util.function.Supplier;
import org.slf4j.MDC;

/**
 * Tags the log lines written while hvspi works on a VM with its id: the slf4j MDC
 * key {@value #KEY}, for a layout such as logback's {@code %X{vm}}. The host sets
 * it around every VM operation, so the lines of plugin code called from there
 * carry it too; a nested call for another VM tags its own lines and restores the outer tag.
 */
public final class VmTaggedLogging {
    /** The MDC key that holds the VM id. */
    public static final String KEY = "vm";

    private VmTaggedLogging() {}

    /** Runs {@code action} with the VM id in the MDC, then restores what was there. */
    public static <T> T call(String vmId, Supplier<T> action) {
        String outer = MDC.get(KEY);
        MDC.put(KEY, vmId);
        try {
            return action.get();
        } finally {
            if (outer == null) {
                MDC.remove(KEY);
            } else {
                MDC.put(KEY, outer);
            }
        }
    }

    /** As {@link #call}, for an action without a result. */
    public static void run(String vmId, Runnable action) {
        call(vmId, () -> {
            action.run();
            return null;
        });
    }
}
