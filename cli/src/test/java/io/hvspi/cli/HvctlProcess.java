package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** The installed bin/hvctl run as its own process, as a user runs it: logging and exit codes are the real ones. */
final class HvctlProcess {
    private HvctlProcess() {}

    static HvctlRunner.Result run(Path runtimeDir, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(HvctlRunner.home().resolve("bin/hvctl").toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command);
        if (runtimeDir != null) {
            pb.environment().put("HVSPI_RUNTIME_DIR", runtimeDir.toString());
        }
        Process p = pb.start();
        p.getOutputStream().close();
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p, true));
        String out = read(p, false);
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "hvctl did not exit: " + command);
        return new HvctlRunner.Result(p.exitValue(), out, err.get());
    }

    static HvctlRunner.Result run(String... args) throws Exception {
        return run(null, args);
    }

    private static String read(Process p, boolean stderr) {
        try {
            return new String((stderr ? p.getErrorStream() : p.getInputStream()).readAllBytes(), StandardCharsets.UTF_8);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
