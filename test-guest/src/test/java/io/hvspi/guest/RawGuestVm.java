package io.hvspi.guest;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The test guest in a QEMU started by hand (q35, TCG, one vCPU), with root ports for
 * hotplug, its console and QMP as sockets in {@code dir}. QEMU starts paused and runs
 * only once the console is connected, so no guest line is lost.
 */
final class RawGuestVm implements AutoCloseable {
    static final int ROOT_PORTS = 4;

    final Process qemu;
    final RawQmp qmp;
    final GuestConsole console;
    final Path log;

    private RawGuestVm(Process qemu, RawQmp qmp, GuestConsole console, Path log) {
        this.qemu = qemu;
        this.qmp = qmp;
        this.console = console;
        this.log = log;
    }

    static RawGuestVm boot(TestGuest guest, Path dir, Optional<Path> transcript) throws IOException {
        Path qmpSocket = dir.resolve("qmp.sock");
        Path consoleSocket = dir.resolve("console.sock");
        Path log = dir.resolve("qemu.log");
        List<String> command = new ArrayList<>(List.of("qemu-system-x86_64",
                "-machine", "q35,accel=tcg", "-m", "512", "-smp", "1",
                "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-S",
                "-qmp", "unix:" + qmpSocket + ",server=on,wait=off"));
        command.addAll(guest.qemuArgs(consoleSocket));
        for (int i = 1; i <= ROOT_PORTS; i++) {
            command.addAll(List.of("-device", "pcie-root-port,id=rp" + i + ",bus=pcie.0,chassis=" + i));
        }
        Process qemu = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        RawQmp qmp = null;
        GuestConsole console = null;
        try {
            qmp = RawQmp.connect(qmpSocket, Duration.ofSeconds(10));
            // The console socket exists once QMP answers: QEMU creates chardevs first.
            console = GuestConsole.connect(consoleSocket, Duration.ofSeconds(5), transcript);
            qmp.execute("cont", Map.of(), Duration.ofSeconds(5));
            return new RawGuestVm(qemu, qmp, console, log);
        } catch (IOException | RuntimeException e) {
            kill(qemu, qmp, console);
            throw new IOException(e.getMessage() + "; QEMU said: " + qemuOutput(log), e);
        }
    }

    /** Adds {@code node} (a blockdev-add body) and a virtio-blk-pci {@code id} on root port {@code port}, serial = id. */
    void hotplug(String id, int port, Map<String, ?> node) throws IOException {
        qmp.execute("blockdev-add", node, Duration.ofSeconds(5));
        qmp.execute("device_add", Map.of("driver", "virtio-blk-pci", "id", id, "drive", node.get("node-name"),
                "bus", "rp" + port, "serial", id), Duration.ofSeconds(5));
    }

    /** device_del, wait for DEVICE_DELETED, then blockdev-del of its node. */
    void unplug(String id, String nodeName, Duration timeout) throws IOException {
        qmp.execute("device_del", Map.of("id", id), Duration.ofSeconds(5));
        try {
            qmp.awaitEvent("DEVICE_DELETED", e -> id.equals(e.path("data").path("device").asText()), timeout);
        } catch (IOException e) {
            // the guest's pciehp releases the slot: what the guest said last is the evidence
            throw new IOException("no DEVICE_DELETED for " + id + ": " + e.getMessage() + "; the guest's console"
                    + " ended with:\n" + String.join("\n", lastLines(console.recentLines(), 20)), e);
        }
        qmp.execute("blockdev-del", Map.of("node-name", nodeName), Duration.ofSeconds(5));
    }

    private static List<String> lastLines(List<String> lines, int n) {
        return lines.subList(Math.max(0, lines.size() - n), lines.size());
    }

    static Map<String, Object> rawFile(String nodeName, Path file) {
        return Map.of("node-name", nodeName, "driver", "raw", "file", Map.of("driver", "file", "filename", file.toString()));
    }

    static Map<String, Object> nullDisk(String nodeName, long size) {
        return Map.of("node-name", nodeName, "driver", "null-co", "size", size, "read-zeroes", true);
    }

    String qemuOutput() {
        return qemuOutput(log);
    }

    private static String qemuOutput(Path log) {
        try {
            return Files.exists(log) ? Files.readString(log).strip().replace('\n', ' ') : "";
        } catch (IOException e) {
            return "(cannot read " + log + ")";
        }
    }

    @Override
    public void close() {
        kill(qemu, qmp, console);
    }

    private static void kill(Process qemu, RawQmp qmp, GuestConsole console) {
        qemu.destroyForcibly();
        try {
            qemu.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (console != null) {
            console.close();
        }
        if (qmp != null) {
            try {
                qmp.close();
            } catch (IOException e) {
                // QEMU is gone; nothing left to close cleanly
            }
        }
    }
}
