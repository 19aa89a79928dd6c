package io.hvspi.cli;

import java.io.PrintWriter;

/** Progress lines on stderr for anything slow, stamped with the seconds since the command began. */
final class Progress {
    private final PrintWriter err;
    private final long start = System.nanoTime();
    private final boolean enabled;

    Progress(PrintWriter err, boolean enabled) {
        this.err = err;
        this.enabled = enabled;
    }

    void step(String message) {
        if (enabled) {
            err.printf("[%6.2fs] %s%n", (System.nanoTime() - start) / 1e9, message);
            err.flush();
        }
    }
}
