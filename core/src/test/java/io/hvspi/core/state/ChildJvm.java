package io.hvspi.core.state;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** A real second JVM running a main class of the test classpath, talked to by lines. */
public final class ChildJvm implements AutoCloseable {
    public final Process process;
    private final BufferedReader out;
    private final PrintStream in;

    private ChildJvm(Process process) {
        this.process = process;
        this.out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        this.in = new PrintStream(process.getOutputStream(), true, StandardCharsets.UTF_8);
    }

    public static ChildJvm start(Class<?> main, String... args) throws IOException {
        return start(ProcessBuilder.Redirect.INHERIT, main, args);
    }

    /** As {@link #start(Class, String...)}, the child's stderr going to {@code err}. */
    public static ChildJvm start(ProcessBuilder.Redirect err, Class<?> main, String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElseThrow());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(main.getName());
        cmd.addAll(List.of(args));
        return new ChildJvm(new ProcessBuilder(cmd).redirectError(err).start());
    }

    /** The child's next line; fails when it exits first. */
    public String readLine() throws IOException {
        String line = out.readLine();
        if (line == null) {
            throw new IOException("child " + process.pid() + " ended its output");
        }
        return line;
    }

    public void send(String line) {
        in.println(line);
    }

    public long pid() {
        return process.pid();
    }

    @Override
    public void close() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
    }
}
