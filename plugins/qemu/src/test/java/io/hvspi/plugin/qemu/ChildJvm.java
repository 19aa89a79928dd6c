package io.hvspi.plugin.qemu;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A {@link ChildOperation} in a JVM of its own, on the test classpath; its stdout read line by line. */
final class ChildJvm implements AutoCloseable {
    private static final String EOF = "\u0000eof";
    private final Process process;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();

    private ChildJvm(Process process) {
        this.process = process;
        Thread.ofVirtual().start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line = r.readLine(); line != null; line = r.readLine()) {
                    lines.add(line);
                }
            } catch (IOException e) {
                // the child was killed
            }
            lines.add(EOF);
        });
    }

    /**
     * Starts {@code ChildOperation root vmId op}; its stderr (the log) goes to {@code log}.
     *
     * @param umask000 runs it under {@code umask 000}, to check the modes of the files it creates
     */
    static ChildJvm start(Path root, String vmId, String op, Path log, boolean umask000, String... extra)
            throws IOException {
        List<String> argv = new ArrayList<>();
        if (umask000) {
            // the JVM cannot set its own umask; a fixed script with the command as its arguments can
            argv.addAll(List.of("/bin/sh", "-c", "umask 000 && exec \"$@\"", "sh"));
        }
        argv.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto",
                "-cp", System.getProperty("java.class.path"), ChildOperation.class.getName(),
                root.toString(), vmId, op));
        argv.addAll(List.of(extra));
        return new ChildJvm(new ProcessBuilder(argv).redirectErrorStream(false)
                .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile())).start());
    }

    /** Waits for the child to print {@code expected}; false when it ended first or the time ran out. */
    boolean awaitLine(String expected, long timeoutMillis) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (true) {
            String line = lines.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (line == null || line.equals(EOF)) {
                return false;
            }
            if (line.equals(expected)) {
                return true;
            }
        }
    }

    /** The lines printed before {@code expected}; throws when the child ended first or the time ran out. */
    List<String> linesBefore(String expected, long timeoutMillis) throws InterruptedException {
        List<String> out = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (true) {
            String line = lines.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (line == null || line.equals(EOF)) {
                throw new AssertionError("the child ended or timed out before '" + expected + "'; it printed " + out);
            }
            if (line.equals(expected)) {
                return out;
            }
            out.add(line);
        }
    }

    /** SIGKILL, and waits until it is gone. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
    }

    int waitFor() throws InterruptedException {
        return process.waitFor();
    }

    /** Kills the child if it still runs; an interrupt of the wait is kept for the caller. */
    @Override
    public void close() {
        try {
            kill();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
