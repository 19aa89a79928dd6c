package io.hvspi.plugin.qemu.probe;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.plugin.qemu.qmp.QemuVersion;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.spi.VmmUnavailableException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
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

    /**
     * What a QEMU executable answered, by the file it runs (path, device, inode, size, modification
     * and change times): the answers are the binary's, and asking costs about 4 ms of every start and
     * reattach under TCG (device-list-properties instantiates the device). libvirt keeps QEMU's
     * capabilities the same way, per binary and invalidated by its times. A binary replaced in place
     * (a package upgrade) is a new file, so it is asked again.
     */
    private static final Map<List<Object>, ProbeResult> BY_EXECUTABLE = new ConcurrentHashMap<>();

    /**
     * Probes QEMU over a live connection, or returns what the same executable answered before in
     * this JVM; {@code executable} is the real path of the binary the QEMU process runs (empty
     * when unknown, as for a QEMU hvspi did not spawn: then it is always asked).
     */
    public static ProbeResult probe(QmpClient qmp, Optional<Path> executable) {
        Optional<List<Object>> key = executable.flatMap(QemuProbe::fileKey);
        ProbeResult known = key.map(BY_EXECUTABLE::get).orElse(null);
        if (known != null) {
            return known;
        }
        ProbeResult asked = probe(qmp);
        key.ifPresent(k -> BY_EXECUTABLE.put(k, asked));
        return asked;
    }

    private static Optional<List<Object>> fileKey(Path executable) {
        try {
            Map<String, Object> a = Files.readAttributes(executable, "unix:dev,ino,size,lastModifiedTime,ctime");
            return Optional.of(List.of(executable.toString(), a.get("dev"), a.get("ino"), a.get("size"),
                    a.get("lastModifiedTime"), a.get("ctime")));
        } catch (IOException | UnsupportedOperationException e) {
            return Optional.empty();
        }
    }

    /**
     * Probes over a live connection, the three questions sent at once: QEMU answers them in
     * order, so a start waits for one client turnaround instead of three.
     */
    public static ProbeResult probe(QmpClient qmp) {
        Map<String, QmpClient.Call> calls = new LinkedHashMap<>();
        calls.put("query-version", qmp.submit("query-version", null));
        calls.put("query-commands", qmp.submit("query-commands", null));
        calls.put("device-list-properties", qmp.submit("device-list-properties", virtioBlkPci()));
        return probe((command, arguments) -> qmp.await(calls.get(command)));
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
        qmp.apply("device-list-properties", virtioBlkPci())
                .forEach(p -> props.add(p.path("name").asText()));
        return new ProbeResult(
                new QemuVersion(qemu.path("major").asInt(), qemu.path("minor").asInt(), qemu.path("micro").asInt()),
                version.path("package").asText(""), commands, props);
    }

    private static ObjectNode virtioBlkPci() {
        return QmpClient.args().put("typename", "virtio-blk-pci");
    }
}
