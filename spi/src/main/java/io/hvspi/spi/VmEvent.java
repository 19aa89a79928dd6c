package io.hvspi.spi;

import java.time.Instant;
import java.util.Map;

/**
 * An event from the VMM, under the VMM's own name ({@code DEVICE_DELETED},
 * {@code SHUTDOWN}), or hvspi's {@code VMM_EXITED} when the process went away.
 *
 * @param name the event's name
 * @param timestamp when the VMM (or hvspi) stamped it
 * @param data the event's payload, as plain Java values (String, Number, Boolean, List, Map)
 */
public record VmEvent(String name, Instant timestamp, Map<String, Object> data) {
    /** The name hvspi gives the event that the VMM process exited. */
    public static final String VMM_EXITED = "VMM_EXITED";

    public VmEvent {
        data = Map.copyOf(data);
    }
}
