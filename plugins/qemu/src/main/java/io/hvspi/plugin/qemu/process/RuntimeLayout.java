package io.hvspi.plugin.qemu.process;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Where a VM's files live inside its private runtime directory (mode 0700):
 * the QMP socket (0600), the serial console log, and QEMU's own output.
 *
 * @param dir the VM's runtime directory
 */
public record RuntimeLayout(Path dir) {
    /** {@code sun_path} holds 108 bytes, the terminator included. */
    public static final int MAX_SOCKET_PATH_BYTES = 107;

    public Path qmpSocket() {
        return dir.resolve("qmp.sock");
    }

    /** The guest's serial console, written by QEMU; a guest test reads it. */
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
