package io.hvspi.plugin.qemu.probe;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.plugin.qemu.qmp.FakeQmpServer;
import io.hvspi.plugin.qemu.qmp.QemuVersion;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.function.BiFunction;

/** QMP replies recorded from real QEMU binaries, one directory per version under {@code src/test/resources/probe/}. */
public final class RecordedReplies {
    public static final String QEMU_7_2 = "qemu-7.2.22";
    public static final String QEMU_10_0 = "qemu-10.0.13";
    /** Every recording, each made from a real binary (see the README next to them). */
    public static final List<String> RECORDED = List.of(QEMU_7_2, QEMU_10_0);

    private RecordedReplies() {}

    /** The recording of this major.minor, if there is one. */
    public static Optional<String> recordedFor(QemuVersion version) {
        String prefix = "qemu-" + version.major() + "." + version.minor() + ".";
        return RECORDED.stream().filter(v -> v.startsWith(prefix)).findFirst();
    }

    public static JsonNode load(String version, String name) {
        String resource = "/probe/" + version + "/" + name + ".json";
        try (InputStream in = RecordedReplies.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalArgumentException("no recorded reply " + resource);
            }
            return QmpClient.JSON.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Answers the probe's three commands as the recorded QEMU did. */
    public static BiFunction<String, ObjectNode, JsonNode> replay(String version) {
        return (command, args) -> switch (command) {
            case "query-version", "query-commands" -> load(version, command);
            case "device-list-properties" -> load(version, "device-list-properties-" + args.path("typename").asText());
            default -> throw new IllegalArgumentException("no recorded reply to " + command);
        };
    }

    /** A scripted QMP server that greets and answers the probe as the recorded QEMU did, and {@code {}} otherwise. */
    public static FakeQmpServer server(Path socket, String version) {
        FakeQmpServer server = new FakeQmpServer(socket, load(version, "greeting").toString());
        server.reply("query-version", load(version, "query-version"))
                .reply("query-commands", load(version, "query-commands"))
                .reply("device-list-properties", load(version, "device-list-properties-virtio-blk-pci"))
                .reply("query-status", QmpClient.args().put("status", "prelaunch").put("running", false));
        return server;
    }
}
