package io.hvspi.cli;

import io.hvspi.core.host.HvspiHost;
import io.hvspi.core.host.LoadedConfig;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** What every hvctl command that touches plugins or VMs shares: the global options, --json, its streams. */
abstract class HvctlCommand implements Callable<Integer> {
    @Mixin
    GlobalOptions global;

    @Option(names = "--json", description = "Print JSON instead of a table.")
    boolean json;

    @Spec
    CommandSpec spec;

    /** Loads CONFIG (default: the distribution's) through the host API. */
    static LoadedConfig loadConfig(HvspiHost host, Path file, Map<String, String> annotations) {
        return host.loadConfig(file != null ? file : Home.defaultConfig(), annotations);
    }

    PrintWriter out() {
        return spec.commandLine().getOut();
    }

    PrintWriter err() {
        return spec.commandLine().getErr();
    }
}
