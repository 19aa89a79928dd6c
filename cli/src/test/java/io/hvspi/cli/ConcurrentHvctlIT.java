package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.io.BufferedReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Several hvctl processes on one kept VM at once (issue: "one truth for a VM").
 * Each process takes the VM's lock from reading the record to writing it, so
 * none works from a stale copy: afterwards the record (vm.json, read as a file)
 * equals what QEMU itself has, read over a plain QMP connection.
 */
class ConcurrentHvctlIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String VM = "conc1";

    @TempDir
    Path runtime;

    private long qemuPid;

    @AfterEach
    void stopTheVm() {
        if (qemuPid > 0) {
            HvctlRunner.Result r = hvctl("vm", "stop", VM);
            assertEquals(0, r.exit(), r::toString);
            assertFalse(ProcessHandle.of(qemuPid).map(ProcessHandle::isAlive).orElse(false), "QEMU outlived vm stop");
        }
    }

    private HvctlRunner.Result hvctl(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.addAll(List.of("--runtime-dir", runtime.toString()));
        return HvctlRunner.hvctl(all.toArray(String[]::new));
    }

    private void keptVm() throws IOException {
        HvctlRunner.Result r = hvctl("run", "--accel", "tcg", "--keep", "--vm-id", VM, "--disks", "0", "--json");
        assertEquals(0, r.exit(), r::toString);
        qemuPid = JSON.readTree(r.out()).get("pid").asLong();
    }

    /** Starts every command as its own bin/hvctl process, all at once, and waits for all. */
    private void concurrently(List<List<String>> commands) throws Exception {
        List<Process> processes = new ArrayList<>();
        for (List<String> command : commands) {
            List<String> argv = new ArrayList<>(List.of(HvctlRunner.home().resolve("bin/hvctl").toString()));
            argv.addAll(command);
            argv.addAll(List.of("--runtime-dir", runtime.toString(), "--timeout", "60"));
            processes.add(new ProcessBuilder(argv).redirectErrorStream(true).start());
        }
        for (int i = 0; i < processes.size(); i++) {
            Process p = processes.get(i);
            String what = "hvctl " + String.join(" ", commands.get(i));
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(true, p.waitFor(120, TimeUnit.SECONDS), what + " did not end");
            assertEquals(0, p.exitValue(), () -> what + ":\n" + output);
        }
    }

    @Test
    void eightHotplugsAtOnceAreAllRecordedOnEightRootPorts() throws Exception {
        keptVm();
        List<List<String>> hotplugs = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            hotplugs.add(List.of("vm", "hotplug", VM, "--id", "d" + i, "--null", "64"));
        }
        concurrently(hotplugs);

        Map<String, String> recorded = recordedDevices();
        assertEquals(8, recorded.size(), recorded.toString());
        assertEquals(qemuDevices(), recorded, "the record and QEMU: device -> root port, IOThread");
        assertEquals(8, recorded.values().stream().map(v -> v.split(" ")[0]).distinct().count(),
                "two disks on one root port: " + recorded);
        // least-loaded over a pool of 4: two disks each, in the record and in QEMU
        Map<String, Integer> perThread = new TreeMap<>();
        recorded.values().forEach(v -> perThread.merge(v.split(" ")[1], 1, Integer::sum));
        assertEquals(Map.of("indep_iothread_0", 2, "indep_iothread_1", 2, "indep_iothread_2", 2,
                "indep_iothread_3", 2), perThread);
    }

    @Test
    void mixedChangesAtOnceLoseNothing() throws Exception {
        keptVm();
        List<List<String>> setup = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            setup.add(List.of("vm", "hotplug", VM, "--id", "d" + i, "--null", "64",
                    "--iothread", "indep_iothread_0"));
        }
        setup.add(List.of("vm", "iothreads", VM, "--add", "xt0"));
        concurrently(setup);

        concurrently(List.of(
                List.of("vm", "unplug", VM, "d0"),
                List.of("vm", "unplug", VM, "d1"),
                List.of("vm", "move", VM, "d2", "--iothread", "indep_iothread_3"),
                List.of("vm", "move", VM, "d3", "--iothread", "indep_iothread_2"),
                List.of("vm", "hotplug", VM, "--id", "d6", "--null", "64", "--iothread", "indep_iothread_1"),
                List.of("vm", "iothreads", VM, "--add", "xt1"),
                List.of("vm", "iothreads", VM, "--add", "xt2"),
                List.of("vm", "iothreads", VM, "--remove", "xt0")));

        Map<String, String> recorded = recordedDevices();
        assertEquals(qemuDevices(), recorded, "the record and QEMU: device -> root port, IOThread");
        assertEquals(List.of("d2", "d3", "d4", "d5", "d6"), List.copyOf(recorded.keySet()));
        assertEquals("indep_iothread_3", recorded.get("d2").split(" ")[1]);
        assertEquals("indep_iothread_2", recorded.get("d3").split(" ")[1]);
        assertEquals("indep_iothread_1", recorded.get("d6").split(" ")[1]);
        assertEquals(qemuIOThreads(), recordedIOThreads());
        assertEquals(new TreeSet<>(List.of("indep_iothread_0", "indep_iothread_1", "indep_iothread_2",
                "indep_iothread_3", "xt1", "xt2")), recordedIOThreads());
    }

    private JsonNode pluginState() throws IOException {
        return JSON.readTree(Files.readString(runtime.resolve(VM).resolve("vm.json"))).get("pluginState");
    }

    /** Device id to "rootport iothread", from the record file itself (no hvctl command in between). */
    private Map<String, String> recordedDevices() throws IOException {
        Map<String, String> out = new TreeMap<>();
        for (JsonNode d : pluginState().get("devices")) {
            out.put(d.get("id").asText(), d.get("bus").asText() + " " + d.get("ioThreads").path(0).asText());
        }
        return out;
    }

    private TreeSet<String> recordedIOThreads() throws IOException {
        TreeSet<String> out = new TreeSet<>();
        pluginState().get("ioThreads").forEach(t -> out.add(t.get("id").asText()));
        return out;
    }

    private Map<String, String> qemuDevices() throws IOException {
        try (Qmp qmp = new Qmp(runtime.resolve(VM).resolve("qmp.sock"))) {
            Map<String, String> out = new TreeMap<>();
            for (JsonNode child : qmp.execute("qom-list", "{\"path\":\"/machine/peripheral\"}")) {
                if (child.get("type").asText().equals("child<virtio-blk-pci>")) {
                    String path = "/machine/peripheral/" + child.get("name").asText();
                    out.put(child.get("name").asText(), last(qmp.get(path, "parent_bus")) + " "
                            + last(qmp.get(path, "iothread")));
                }
            }
            return out;
        }
    }

    private TreeSet<String> qemuIOThreads() throws IOException {
        try (Qmp qmp = new Qmp(runtime.resolve(VM).resolve("qmp.sock"))) {
            TreeSet<String> out = new TreeSet<>();
            qmp.execute("query-iothreads", "{}").forEach(t -> out.add(t.get("id").asText()));
            return out;
        }
    }

    private static String last(String path) {
        return path.substring(path.lastIndexOf('/') + 1);
    }

    /** A plain QMP connection, the test's own: nothing of hvspi between the test and QEMU. */
    private static final class Qmp implements AutoCloseable {
        private final SocketChannel channel;
        private final BufferedReader in;

        Qmp(Path socket) throws IOException {
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            channel.connect(UnixDomainSocketAddress.of(socket));
            in = new BufferedReader(Channels.newReader(channel, StandardCharsets.UTF_8));
            in.readLine(); // greeting
            execute("qmp_capabilities", "{}");
        }

        JsonNode execute(String command, String arguments) throws IOException {
            String line = "{\"execute\":\"" + command + "\",\"arguments\":" + arguments + "}\n";
            channel.write(ByteBuffer.wrap(line.getBytes(StandardCharsets.UTF_8)));
            while (true) {
                JsonNode reply = JSON.readTree(in.readLine());
                if (reply.has("return")) {
                    return reply.get("return");
                }
                if (reply.has("error")) {
                    throw new IOException(command + ": " + reply.get("error"));
                }
            }
        }

        String get(String path, String property) throws IOException {
            return execute("qom-get", "{\"path\":\"" + path + "\",\"property\":\"" + property + "\"}").asText();
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }
}
