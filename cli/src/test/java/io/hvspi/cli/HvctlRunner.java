package io.hvspi.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

/** Runs hvctl in-process against the assembled distribution (failsafe sets hvspi.home to target/hvctl). */
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

    static Path fixture(String name) {
        return Path.of(System.getProperty("hvspi.fixtures"), "kata-config", name);
    }

    static Result hvctl(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Hvctl.execute(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Result(exit, out.toString(), err.toString());
    }
}
