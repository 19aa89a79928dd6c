package io.hvspi.plugin.qemu.probe;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
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

    /**
     * A scripted QMP server that greets and answers the probe as the recorded QEMU did,
     * answers {@code query-status} (prelaunch) and {@code quit}, and refuses every other
     * command as QEMU refuses one it lacks ({@code CommandNotFound}) unless the test gives
     * it: a replay passes only on what the test states. {@link #acceptsHotplug} gives the
     * hotplug commands.
     */
    public static FakeQmpServer server(Path socket, String version) {
        FakeQmpServer server = new FakeQmpServer(socket, load(version, "greeting").toString()).refuseUnknown();
        server.reply("query-version", load(version, "query-version"))
                .reply("query-commands", load(version, "query-commands"))
                .reply("device-list-properties", load(version, "device-list-properties-virtio-blk-pci"))
                .reply("query-status", QmpClient.args().put("status", "prelaunch").put("running", false))
                .reply("quit", QmpClient.args());
        return server;
    }

    /**
     * Gives the commands of a hotplug, a detach and an IOThread add, each answered with
     * {@code {}} as QEMU answers them when they succeed.
     */
    public static FakeQmpServer acceptsHotplug(FakeQmpServer server) {
        for (String command : List.of("blockdev-add", "device_add", "device_del", "blockdev-del", "object-add")) {
            server.reply(command, QmpClient.args());
        }
        return server;
    }

    /**
     * Gives {@code query-iothreads}, answered in QEMU's shape for these IOThreads (made-up
     * thread ids 1000, 1001, ...; QEMU's default polling values).
     */
    public static FakeQmpServer iothreads(FakeQmpServer server, List<String> ids) {
        ArrayNode list = QmpClient.JSON.createArrayNode();
        for (int i = 0; i < ids.size(); i++) {
            list.addObject().put("id", ids.get(i)).put("thread-id", 1000 + i).put("poll-max-ns", 32768)
                    .put("poll-grow", 0).put("poll-shrink", 0).put("aio-max-batch", 0);
        }
        return server.reply("query-iothreads", list);
    }
}
