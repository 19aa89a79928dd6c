package io.hvspi.plugin.qemu.process;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Where a VM's files live inside its private runtime directory (mode 0700):
 * the QMP socket, the events socket and the serial console socket (all 0600), the console log, and
 * QEMU's own output.
 *
 * @param dir the VM's runtime directory
 */
public record RuntimeLayout(Path dir) {
    /** {@code sun_path} holds 108 bytes, the terminator included. */
    public static final int MAX_SOCKET_PATH_BYTES = 107;

    public Path qmpSocket() {
        return dir.resolve("qmp.sock");
    }

    /**
     * A second QMP monitor, only for following events: the first one admits one client,
     * which the VM's owner holds. QEMU sends every event to every monitor.
     */
    public Path eventsSocket() {
        return dir.resolve("events.sock");
    }

    /** hvspi's own events of this VM, one JSON object per line, for followers (see {@code EventJournal}). */
    public Path eventsJournal() {
        return dir.resolve("events.jsonl");
    }

    /** The write-ahead log of operations in flight (see {@code IntentLog}). */
    public Path intentLog() {
        return dir.resolve("intents.log");
    }

    /**
     * The guest's serial console (ttyS0), a socket QEMU serves: connect to talk to
     * the guest. Output written while nobody is connected is lost here, but kept in
     * {@link #consoleLog()}.
     */
    public Path consoleSocket() {
        return dir.resolve("console.sock");
    }

    /** Everything the guest wrote to its serial console, whether or not a client was connected. */
    public Path consoleLog() {
        return dir.resolve("console.log");
    }

    /** QEMU's stdout and stderr. */
    public Path qemuLog() {
        return dir.resolve("qemu.log");
    }

    /** True when the socket path fits into a Unix socket address. */
    public boolean socketPathFits() {
        return qmpSocket().toString().getBytes(StandardCharsets.UTF_8).length <= MAX_SOCKET_PATH_BYTES;
    }
}
