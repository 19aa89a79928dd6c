package io.hvspi.cli;

import io.hvspi.spi.VmmUnavailableException;
import java.io.PrintWriter;
import java.util.List;

/**
 * The last lines of a VMM's own log, printed under an error that carries them: a
 * VMM that exits during start says why there, and the failed start has already
 * removed the runtime directory that held the log.
 */
final class VmmLogTail {
    private VmmLogTail() {}

    /** The tail an error carries (on it or on a cause), or an empty list. */
    static List<String> of(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof VmmUnavailableException u && !u.vmmLog().isEmpty()) {
                return u.vmmLog();
            }
        }
        return List.of();
    }

    /** Prints the tail, each line marked as the VMM's, or nothing when there is none. */
    static void print(PrintWriter err, Throwable e) {
        List<String> tail = of(e);
        if (tail.isEmpty()) {
            return;
        }
        err.println("hvctl: the VMM's last output:");
        tail.forEach(line -> err.println("  | " + line));
    }
}
