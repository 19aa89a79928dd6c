package io.hvspi.plugin.qemu.qmp;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmmUnavailableException;
import java.time.Instant;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/** QMP events as the SPI's {@link VmEvent}s; the end of the connection as {@link VmEvent#VMM_EXITED}. */
public final class VmEventAdapter {
    private VmEventAdapter() {}

    /** A QMP listener that hands each event, and the connection's end, to {@code listener}. */
    public static QmpListener of(Consumer<VmEvent> listener) {
        return new QmpListener() {
            @Override
            public void onEvent(QmpEvent event) {
                listener.accept(new VmEvent(event.name(), event.timestamp(), toMap(event.data())));
            }

            @Override
            public void onDisconnect(VmmUnavailableException cause) {
                listener.accept(new VmEvent(VmEvent.VMM_EXITED, Instant.now(), Map.of("reason", cause.getMessage())));
            }
        };
    }

    private static Map<String, Object> toMap(JsonNode data) {
        Map<String, Object> m = QmpClient.JSON.convertValue(data, new TypeReference<Map<String, Object>>() {});
        // VmEvent copies the map, and Map.copyOf refuses nulls: JSON null becomes absent
        m.values().removeIf(Objects::isNull);
        return m;
    }
}
