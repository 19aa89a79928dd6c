package io.hvspi.plugin.dragonball;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * A hotplugged drive as hvspi knows it: the device it reported, and the host path
 * Dragonball opened (for a null backend, a sparse file hvspi made and removes).
 */
record Drive(BlockDevice device, Path pathOnHost) {

    /** Dragonball gives a PCI slot on its root bus; hvspi reports it as a bdf. */
    static Optional<String> address(Optional<Integer> slot) {
        return slot.map(s -> String.format("0000:00:%02x.0", s));
    }

    static Drive of(String id, String driver, BlockBackend backend, Path pathOnHost, boolean readOnly,
                    Optional<Integer> slot) {
        return new Drive(new BlockDevice(id, driver, backend, readOnly, List.of(), 1, address(slot)), pathOnHost);
    }

    /** True when hvspi made the file (a null backend) and removes it with the drive. */
    boolean ownsFile() {
        return device.backend() instanceof BlockBackend.Null;
    }

    ObjectNode toJson() {
        ObjectNode n = JsonNodeFactory.instance.objectNode()
                .put("id", device.id())
                .put("driver", device.driver())
                .put("path_on_host", pathOnHost.toString())
                .put("read_only", device.readOnly());
        if (device.backend() instanceof BlockBackend.Null nul) {
            n.put("null_size", nul.sizeBytes());
        }
        device.address().ifPresent(a -> n.put("address", a));
        return n;
    }

    static Drive fromJson(JsonNode n) {
        Path path = Path.of(n.path("path_on_host").asText());
        BlockBackend backend = n.has("null_size") ? new BlockBackend.Null(n.path("null_size").asLong())
                : new BlockBackend.HostPath(path);
        Optional<String> address = n.has("address") ? Optional.of(n.path("address").asText()) : Optional.empty();
        return new Drive(new BlockDevice(n.path("id").asText(), n.path("driver").asText(), backend,
                n.path("read_only").asBoolean(), List.of(), 1, address), path);
    }
}
