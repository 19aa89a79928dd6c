package io.hvspi.plugin.qemu.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The first message QEMU sends on a QMP connection:
 * {@code {"QMP": {"version": {"qemu": {...}, "package": "..."}, "capabilities": [...]}}}.
 *
 * @param version the QEMU version
 * @param packageName the distribution's package string, e.g. {@code Debian 1:7.2+dfsg-7+deb12u18+b3}
 * @param capabilities the QMP capabilities QEMU offers (e.g. {@code oob}); hvspi enables none of them
 */
public record QmpGreeting(QemuVersion version, String packageName, List<String> capabilities) {

    public QmpGreeting {
        capabilities = List.copyOf(capabilities);
    }

    /** Parses a greeting, or returns empty when {@code msg} is not one. */
    public static Optional<QmpGreeting> parse(JsonNode msg) {
        JsonNode qmp = msg.path("QMP");
        JsonNode qemu = qmp.path("version").path("qemu");
        if (!qmp.isObject() || !qemu.path("major").isInt() || !qemu.path("minor").isInt()
                || !qemu.path("micro").isInt() || !qmp.path("capabilities").isArray()) {
            return Optional.empty();
        }
        List<String> caps = new ArrayList<>();
        qmp.path("capabilities").forEach(c -> caps.add(c.asText()));
        return Optional.of(new QmpGreeting(
                new QemuVersion(qemu.path("major").asInt(), qemu.path("minor").asInt(), qemu.path("micro").asInt()),
                qmp.path("version").path("package").asText(""), caps));
    }
}
