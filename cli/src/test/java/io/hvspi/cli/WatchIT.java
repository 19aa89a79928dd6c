package io.hvspi.cli;

import static io.hvspi.cli.HvctlRunner.hvctl;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Watching VMs from the CLI: a failed start that quotes QEMU, and {@code vm events} /
 * {@code vm logs --follow} as separate processes of the distribution, following a VM
 * this test's JVM started and kept.
 */
class WatchIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long WAIT_SECONDS = 30;

    @TempDir
    Path tmp;

    private final List<Process> processes = new ArrayList<>();

    @AfterEach
    void cleanUp() {
        processes.forEach(Process::destroyForcibly);
        hv("vm", "stop", "watched"); // nothing to do when the test stopped it
    }

    private Path runtime() {
        return tmp.resolve("run");
    }

    private HvctlRunner.Result hv(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.add("--runtime-dir");
        all.add(runtime().toString());
        return hvctl(all.toArray(String[]::new));
    }

    @Test
    void aQemuThatExitsDuringStartIsQuotedAndNoHintNamesTheRemovedDirectory() throws IOException {
        Path kernel = Files.writeString(tmp.resolve("not-a-kernel"), "not a kernel\n");
        Path config = Files.writeString(tmp.resolve("configuration.toml"), """
                [hypervisor.qemu]
                path = "/usr/bin/qemu-system-x86_64"
                kernel = "%s"
                machine_type = "q35"
                default_memory = 128
                accel = "tcg"
                """.formatted(kernel));

        HvctlRunner.Result r = hv("run", config.toString(), "--disks", "0");

        assertEquals(ExitCode.VMM_UNAVAILABLE, r.exit(), r::toString);
        assertTrue(r.err().contains("exited during start: qemu: invalid kernel header"), r::toString);
        assertTrue(r.err().contains("hvctl: the VMM's last output:\n  | qemu: invalid kernel header"), r::toString);
        assertFalse(r.err().contains("vm list"), "a hint points at the removed runtime directory:\n" + r);
        assertTrue(r.err().contains("hvctl: hint: the VMM's output above says why"), r::toString);
    }

    @Test
    void anEventsProcessFollowsAVmAnotherProcessStartedAndEndsWithIt() throws Exception {
        keepVm();
        Process events = hvctlProcess("vm", "events", "watched", "--json");
        Lines out = Lines.of(events.getInputStream());
        Lines err = Lines.of(events.getErrorStream());
        err.await("hvctl: following the events of VM watched");
        Process logs = hvctlProcess("vm", "logs", "watched", "--console", "--follow");
        Lines.of(logs.getInputStream());
        Lines logsErr = Lines.of(logs.getErrorStream());
        logsErr.await("hvctl: following console.log of VM watched");

        // the follower holds no lock: the owner's commands still work while it follows
        HvctlRunner.Result hotplug = hv("vm", "hotplug", "watched", "--id", "extra", "--null", "64");
        assertEquals(0, hotplug.exit(), hotplug::toString);
        HvctlRunner.Result unplug = hv("vm", "unplug", "watched", "extra");
        assertEquals(0, unplug.exit(), unplug::toString);
        JsonNode attached = out.awaitJson("DEVICE_ATTACHED", "extra"); // hvspi's own, from the VM's journal
        assertEquals("virtio-blk-pci", attached.path("data").path("driver").asText(), attached.toString());
        JsonNode deleted = out.awaitJson("DEVICE_DELETED", "extra");
        assertTrue(deleted.get("timestamp").asText().matches("\\d{4}-.*Z"), deleted.toString());

        HvctlRunner.Result stop = hv("vm", "stop", "watched");
        assertEquals(0, stop.exit(), stop::toString);
        out.awaitJson("SHUTDOWN", null);
        out.awaitJson("VMM_EXITED", null);
        assertTrue(events.waitFor(WAIT_SECONDS, TimeUnit.SECONDS), "vm events still runs after the VM stopped");
        assertEquals(0, events.exitValue(), err::text);
        assertTrue(logs.waitFor(WAIT_SECONDS, TimeUnit.SECONDS), "vm logs --follow still runs after the VM stopped");
        assertEquals(0, logs.exitValue(), logsErr::text);
        for (String line : out.all()) {
            assertTrue(JSON.readTree(line).has("event"), "not one JSON object per line: " + line);
        }
    }

    @Test
    void sigtermEndsAFollowerCleanlyAndLeavesTheVmRunning() throws Exception {
        long pid = keepVm();
        Process events = hvctlProcess("vm", "events", "watched");
        Lines err = Lines.of(events.getErrorStream());
        Lines.of(events.getInputStream());
        err.await("hvctl: following the events of VM watched");

        events.destroy(); // SIGTERM

        assertTrue(events.waitFor(WAIT_SECONDS, TimeUnit.SECONDS), "vm events ignored SIGTERM");
        assertEquals(143, events.exitValue(), err::text);
        assertFalse(err.text().contains("Exception"), err.text());
        assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "the follower stopped the VM");
        // the events monitor is free again: a new follower gets it
        Process again = hvctlProcess("vm", "events", "watched");
        Lines.of(again.getInputStream());
        Lines.of(again.getErrorStream()).await("hvctl: following the events of VM watched");
    }

    @Test
    void logsPrintsTheConsoleLogAndRefusesAnUnknownVm() {
        keepVm();
        HvctlRunner.Result console = hv("vm", "logs", "watched", "--console");
        assertEquals(0, console.exit(), console::toString);
        HvctlRunner.Result vmm = hv("vm", "logs", "watched");
        assertEquals(0, vmm.exit(), vmm::toString);
        HvctlRunner.Result unknown = hv("vm", "logs", "nosuchvm");
        assertEquals(ExitCode.FAILED, unknown.exit(), unknown::toString);
        assertTrue(unknown.err().contains("no VM 'nosuchvm'"), unknown::toString);
    }

    /** A VMM log replaced by a FIFO, a link or a directory is refused in one line, at once: no hang, no trace. */
    @Test
    void logsRefusesALogThatIsNoLongerAFile() throws Exception {
        keepVm();
        Path log = runtime().resolve("watched").resolve("qemu.log");
        Files.delete(log);
        assertEquals(0, new ProcessBuilder("mkfifo", log.toString()).start().waitFor());
        HvctlRunner.Result fifo = hv("vm", "logs", "watched");
        assertEquals(ExitCode.FAILED, fifo.exit(), fifo::toString);
        assertEquals("hvctl: error: refusing to read " + log + ": it is not a regular file; the VMM writes its log"
                + " as a file in the VM's runtime directory", fifo.err().lines().findFirst().orElse(""), fifo::toString);
        Files.delete(log);
        Files.createDirectory(log);
        HvctlRunner.Result dir = hv("vm", "logs", "watched");
        assertEquals(ExitCode.FAILED, dir.exit(), dir::toString);
        assertTrue(dir.err().contains("it is a directory") && !dir.err().contains("Exception"), dir::toString);
    }

    private long keepVm() {
        HvctlRunner.Result run = hv("run", "--accel", "tcg", "--keep", "--vm-id", "watched", "--disks", "0", "--json");
        assertEquals(0, run.exit(), run::toString);
        try {
            return JSON.readTree(run.out()).get("pid").asLong();
        } catch (IOException e) {
            throw new AssertionError(run.toString(), e);
        }
    }

    private Process hvctlProcess(String... args) throws IOException {
        List<String> argv = new ArrayList<>();
        argv.add(HvctlRunner.home().resolve("bin/hvctl").toString());
        argv.addAll(List.of(args));
        argv.add("--runtime-dir");
        argv.add(runtime().toString());
        ProcessBuilder pb = new ProcessBuilder(argv);
        pb.environment().put("HVSPI_JAVA_HOME", System.getProperty("java.home"));
        Process p = pb.start();
        processes.add(p);
        return p;
    }

    /** The lines of a process's stream, read on a thread of their own. */
    static final class Lines {
        private final LinkedBlockingQueue<String> fresh = new LinkedBlockingQueue<>();
        private final List<String> all = java.util.Collections.synchronizedList(new ArrayList<>());

        static Lines of(InputStream stream) {
            Lines lines = new Lines();
            Thread.ofVirtual().start(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(stream, StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) {
                        lines.all.add(line);
                        lines.fresh.add(line);
                    }
                } catch (IOException e) {
                    // the process ended
                }
            });
            return lines;
        }

        String await(String fragment) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
            while (true) {
                String line = fresh.poll(deadline - System.nanoTime(), TimeUnit.NANOSECONDS);
                if (line == null) {
                    throw new AssertionError("no line with '" + fragment + "' within " + WAIT_SECONDS + " s:\n"
                            + text());
                }
                if (line.contains(fragment)) {
                    return line;
                }
            }
        }

        JsonNode awaitJson(String event, String device) throws Exception {
            while (true) {
                JsonNode node = JSON.readTree(await("\"" + event + "\""));
                if (event.equals(node.path("event").asText())
                        && (device == null || device.equals(node.path("data").path("device").asText()))) {
                    return node;
                }
            }
        }

        List<String> all() {
            return List.copyOf(all);
        }

        String text() {
            return String.join("\n", all());
        }
    }
}
