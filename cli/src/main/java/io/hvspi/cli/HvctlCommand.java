package io.hvspi.cli;

import io.hvspi.core.host.HvspiHost;
import io.hvspi.core.host.LoadedConfig;
import java.nio.file.Path;
import java.util.Map;
import picocli.CommandLine.Mixin;

/** A command that starts or reaches VMs: --plugins-dir, --runtime-dir and --timeout act on it. */
abstract class HvctlCommand extends CliCommand {
    @Mixin
    GlobalOptions global;

    /** Loads CONFIG (default: the distribution's) through the host API. */
    static LoadedConfig loadConfig(HvspiHost host, Path file, Map<String, String> annotations) {
        return host.loadConfig(file != null ? file : Home.defaultConfig(), annotations);
    }
}
