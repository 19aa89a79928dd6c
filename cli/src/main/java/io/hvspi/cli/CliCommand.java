package io.hvspi.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** What every hvctl command that prints a result shares: --json and its streams. */
abstract class CliCommand implements Callable<Integer> {
    static final String JSON = "--json";
    static final String JSON_HELP = "Print JSON instead of a table.";

    @Option(names = JSON, description = JSON_HELP)
    boolean json;

    @Spec
    CommandSpec spec;

    PrintWriter out() {
        return spec.commandLine().getOut();
    }

    PrintWriter err() {
        return spec.commandLine().getErr();
    }
}
