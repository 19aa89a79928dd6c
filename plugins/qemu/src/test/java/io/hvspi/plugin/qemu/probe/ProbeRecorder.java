package io.hvspi.plugin.qemu.probe;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.plugin.qemu.TestVms;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * The recording tool for {@code src/test/resources/probe/}: starts the installed
 * {@code qemu-system-x86_64} the way the 7.2 replies were recorded ({@code -machine
 * q35,accel=tcg -S -nodefaults}), talks raw QMP to it over its socket (no hvspi code in
 * between), and writes the greeting and the {@code return} value of each probe command,
 * as QEMU sent them, into {@code qemu-<version>/} under the directory named by the
 * system property {@code hvspi.recordProbe}. Off unless that property is set:
 * <pre>
 * mvn -B -pl plugins/qemu -am test -Dtest=ProbeRecorder -Dsurefire.failIfNoSpecifiedTests=false \
 *     -Dhvspi.recordProbe=$PWD/plugins/qemu/src/test/resources/probe
 * </pre>
 */
@EnabledIfSystemProperty(named = "hvspi.recordProbe", matches = ".+")
class ProbeRecorder {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    @TempDir
    Path tmp;

    @Test
    void recordTheInstalledQemu() throws IOException, InterruptedException {
        Path socket = tmp.resolve("qmp.sock");
        Process qemu = new ProcessBuilder(TestVms.QEMU.toString(), "-machine", "q35,accel=tcg", "-S", "-nodefaults",
                "-display", "none", "-qmp", "unix:" + socket + ",server=on,wait=off")
                .redirectErrorStream(true).redirectOutput(tmp.resolve("qemu.log").toFile()).start();
        try (SocketChannel ch = connect(socket);
                BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch),
                        StandardCharsets.UTF_8));
                OutputStream out = Channels.newOutputStream(ch)) {
            JsonNode greeting = JSON.readTree(in.readLine());
            JsonNode version = greeting.path("QMP").path("version").path("qemu");
            Path dir = Path.of(System.getProperty("hvspi.recordProbe"))
                    .resolve("qemu-" + version.path("major") + "." + version.path("minor") + "." + version.path("micro"));
            Files.createDirectories(dir);
            write(dir.resolve("greeting.json"), greeting);
            execute(in, out, "qmp_capabilities", null);
            write(dir.resolve("query-version.json"), execute(in, out, "query-version", null));
            write(dir.resolve("query-commands.json"), execute(in, out, "query-commands", null));
            for (String type : List.of("virtio-blk-pci")) {
                ObjectNode args = JSON.createObjectNode().put("typename", type);
                write(dir.resolve("device-list-properties-" + type + ".json"),
                        execute(in, out, "device-list-properties", args));
            }
            assertTrue(Files.isRegularFile(dir.resolve("query-commands.json")));
        } finally {
            qemu.destroy();
            qemu.waitFor();
        }
    }

    private static SocketChannel connect(Path socket) throws IOException, InterruptedException {
        Instant deadline = Instant.now().plus(TIMEOUT);
        while (true) {
            try {
                SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                ch.connect(UnixDomainSocketAddress.of(socket));
                return ch;
            } catch (IOException notYet) {
                if (Instant.now().isAfter(deadline)) {
                    throw notYet;
                }
                Thread.sleep(20); // polling for the socket QEMU creates, with a deadline
            }
        }
    }

    /** Sends one command and returns its {@code return} value, skipping events. */
    private static JsonNode execute(BufferedReader in, OutputStream out, String command, ObjectNode args)
            throws IOException {
        ObjectNode request = JSON.createObjectNode().put("execute", command);
        if (args != null) {
            request.set("arguments", args);
        }
        out.write((JSON.writer().without(SerializationFeature.INDENT_OUTPUT).writeValueAsString(request) + "\n")
                .getBytes(StandardCharsets.UTF_8));
        out.flush();
        for (String line; (line = in.readLine()) != null; ) {
            JsonNode reply = JSON.readTree(line);
            if (reply.has("return")) {
                return reply.get("return");
            }
            if (reply.has("error")) {
                throw new IllegalStateException(command + " failed: " + reply.get("error"));
            }
        }
        throw new IOException("QEMU closed QMP before answering " + command);
    }

    private static void write(Path file, JsonNode value) throws IOException {
        Files.writeString(file, JSON.writeValueAsString(value) + "\n");
    }
}
