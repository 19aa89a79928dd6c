package io.hvspi.plugin.qemu.probe;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.plugin.qemu.qmp.QemuVersion;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.spi.VmmUnavailableException;
import java.util.HashSet;
import java.util.Set;
import java.util.function.BiFunction;

/**
 * Asks a running QEMU what it can do: {@code query-version}, {@code query-commands}
 * and {@code device-list-properties} of {@code virtio-blk-pci}. The same three
 * questions are answered from recorded replies in tests (libvirt's method), one
 * set per QEMU version.
 */
public final class QemuProbe {
    private QemuProbe() {}

    /** Probes over a live connection. */
    public static ProbeResult probe(QmpClient qmp) {
        return probe(qmp::execute);
    }

    /**
     * Probes through any QMP executor ({@code (command, arguments) -> return value});
     * tests pass recorded replies.
     */
    public static ProbeResult probe(BiFunction<String, ObjectNode, JsonNode> qmp) {
        JsonNode version = qmp.apply("query-version", null);
        JsonNode qemu = version.path("qemu");
        if (!qemu.path("major").isInt()) {
            throw new VmmUnavailableException(VmmUnavailableException.Reason.PROTOCOL_ERROR,
                    "query-version answered without a version: " + version);
        }
        Set<String> commands = new HashSet<>();
        qmp.apply("query-commands", null).forEach(c -> commands.add(c.path("name").asText()));
        Set<String> props = new HashSet<>();
        qmp.apply("device-list-properties", QmpClient.args().put("typename", "virtio-blk-pci"))
                .forEach(p -> props.add(p.path("name").asText()));
        return new ProbeResult(
                new QemuVersion(qemu.path("major").asInt(), qemu.path("minor").asInt(), qemu.path("micro").asInt()),
                version.path("package").asText(""), commands, props);
    }
}
