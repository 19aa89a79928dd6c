package io.hvspi.plugin.qemu.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;
import java.util.Objects;

/**
 * An asynchronous QMP event, e.g.
 * {@code {"event": "DEVICE_DELETED", "data": {"device": "d0", ...}, "timestamp": {...}}}.
 *
 * @param name the event's name
 * @param timestamp QEMU's timestamp (host wall clock, microsecond resolution)
 * @param data the payload; an empty object when the event has none
 */
public record QmpEvent(String name, Instant timestamp, JsonNode data) {
    public QmpEvent {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(timestamp, "timestamp");
        Objects.requireNonNull(data, "data");
    }

    /** {@code DEVICE_DELETED} for the device with this qdev id (not its virtio backend child). */
    public boolean isDeviceDeleted(String deviceId) {
        return "DEVICE_DELETED".equals(name) && deviceId.equals(data.path("device").asText(null));
    }
}
