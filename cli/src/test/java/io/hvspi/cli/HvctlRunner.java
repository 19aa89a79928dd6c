package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Runs hvctl against the assembled distribution (failsafe sets hvspi.home to target/hvctl): in-process,
 * or as a process of its own where signals are the point.
 */
final class HvctlRunner {
    record Result(int exit, String out, String err) {
        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    private HvctlRunner() {}

    static Path home() {
        return Path.of(System.getProperty("hvspi.home"));
    }

    /**
     * Copies a directory tree, as {@code cp -a} does ({@code keepTimes}) or as {@code cp -r} does
     * (new times, the modes kept); returns {@code to}.
     */
    static Path copyTree(Path from, Path to, boolean keepTimes) throws IOException {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path f : files.toList()) {
                Path target = to.resolve(from.relativize(f).toString());
                if (Files.isDirectory(f)) {
                    Files.createDirectories(target);
                } else if (keepTimes) {
                    Files.copy(f, target, StandardCopyOption.COPY_ATTRIBUTES);
                } else {
                    Files.copy(f, target);
                    Files.setPosixFilePermissions(target, Files.getPosixFilePermissions(f));
                }
            }
        }
        return to;
    }

    static Path fixture(String name) {
        return Path.of(System.getProperty("hvspi.fixtures"), "kata-config", name);
    }

    static Result hvctl(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Hvctl.execute(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Result(exit, out.toString(), err.toString());
    }

    /**
     * Runs the distribution's {@code bin/hvctl} as a process with {@code env} added, waiting up to
     * {@code bound}; fails (killing it) when it has not ended by then.
     */
    static Result process(java.time.Duration bound, java.util.Map<String, String> env, String... args)
            throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(home().resolve("bin/hvctl").toString()));
        command.addAll(List.of(args));
        Path out = Files.createTempFile("hvctl-out", ".txt");
        Path err = Files.createTempFile("hvctl-err", ".txt");
        try {
            ProcessBuilder pb = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile());
            pb.environment().put("HVSPI_JAVA_HOME", System.getProperty("java.home"));
            pb.environment().putAll(env);
            Process p = pb.start();
            try {
                boolean ended = p.waitFor(bound.toMillis(), TimeUnit.MILLISECONDS);
                assertTrue(ended, () -> "hvctl " + String.join(" ", args) + " did not end within " + bound.toSeconds()
                        + " s; stderr so far:\n" + read(err));
            } finally {
                p.destroyForcibly();
            }
            return new Result(p.exitValue(), read(out), read(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            return "(cannot read " + file + ": " + e.getMessage() + ")";
        }
    }

    /**
     * Runs the distribution's {@code bin/hvctl} as a process and sends it SIGTERM, as a service
     * manager stops it (Ctrl-C runs the same hook), at the first stderr line containing
     * {@code marker}; returns its exit code and stderr once it has ended.
     */
    static Result terminatedAt(String marker, List<String> args) throws IOException, InterruptedException {
        // SIGTERM; Process.destroy() would also close the stream read here
        return endedAt(marker, ProcessHandle::destroy, args);
    }

    /** The same with SIGKILL: nothing of hvctl's runs after it, no shutdown hook, no cleanup. */
    static Result killedAt(String marker, List<String> args) throws IOException, InterruptedException {
        return endedAt(marker, ProcessHandle::destroyForcibly, args);
    }

    private static Result endedAt(String marker, java.util.function.Consumer<ProcessHandle> end, List<String> args)
            throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(home().resolve("bin/hvctl").toString()));
        command.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().put("HVSPI_JAVA_HOME", System.getProperty("java.home"));
        Process p = pb.start();
        StringBuilder err = new StringBuilder();
        try (BufferedReader lines = new BufferedReader(
                new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = lines.readLine()) != null) {
                err.append(line).append('\n');
                if (line.contains(marker)) {
                    end.accept(p.toHandle());
                }
            }
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), err::toString);
        } finally {
            p.destroyForcibly();
        }
        return new Result(p.exitValue(), "", err.toString());
    }
}
