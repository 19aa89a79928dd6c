package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** What a run of hvctl left under its runtime root: directories, and processes whose command line names it. */
final class RunLeftovers {
    private RunLeftovers() {}

    /** No VM directory under {@code runtime} (its files listed if there is one) and no process naming it. */
    static void assertNone(Path runtime, String what) {
        // a run ended before it wrote anything leaves not even the root (it is made on a VM's start)
        try (Stream<Path> left = Files.exists(runtime) ? Files.list(runtime) : Stream.of()) {
            // .locks is the host's own: lock files outlive their VMs by design
            List<Path> vmDirs = left.filter(f -> !f.getFileName().toString().equals(".locks")).toList();
            if (!vmDirs.isEmpty()) {
                try (Stream<Path> files = Files.walk(vmDirs.getFirst())) {
                    // what is left says who wrote it after the stop
                    assertEquals(List.of(), files.toList(), what + ": every VM's runtime directory is gone");
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        assertEquals(List.of(), processesNaming(runtime), what + ": no QEMU of this run is alive");
    }

    /** The processes whose command line contains {@code dir}. */
    static List<ProcessHandle> processesNaming(Path dir) {
        return ProcessHandle.allProcesses().filter(h -> cmdline(h.pid()).contains(dir.toString())).toList();
    }

    private static String cmdline(long pid) {
        try {
            return Files.readString(Path.of("/proc", Long.toString(pid), "cmdline")).replace('\0', ' ');
        } catch (IOException | RuntimeException e) {
            return ""; // the process ended meanwhile
        }
    }
}
