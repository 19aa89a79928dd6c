package io.hvspi.cli;

import io.hvspi.core.plugin.PluginRegistry;
import io.hvspi.core.host.HvspiHost;
import io.hvspi.core.state.RuntimeDirs;
import java.nio.file.Path;
import java.time.Duration;
import picocli.CommandLine.Option;

/** Options every command that touches plugins or VMs shares. */
final class GlobalOptions {
    @Option(names = PluginOptions.DIR, paramLabel = "DIR", description = PluginOptions.DIR_HELP,
            converter = PluginOptions.Dir.class)
    Path pluginsDir;

    @Option(names = "--runtime-dir", paramLabel = "DIR",
            description = "Where VMs keep their runtime directories and state"
                    + " (default: $HVSPI_RUNTIME_DIR, /run/hvspi for root, else $XDG_RUNTIME_DIR/hvspi).")
    Path runtimeDir;

    @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "10", converter = NumericOptions.Seconds.class,
            description = "Timeout for one command to the VMM (default: ${DEFAULT-VALUE}).")
    double timeoutSeconds;

    PluginRegistry registry() {
        return PluginRegistry.load(pluginsDir != null ? pluginsDir : Home.pluginsDir());
    }

    /** The host API with these options; plugins load when a command first needs one. */
    HvspiHost host() {
        return hostBuilder().build();
    }

    HvspiHost.Builder hostBuilder() {
        return HvspiHost.builder().pluginsDir(pluginsDir != null ? pluginsDir : Home.pluginsDir())
                .runtimeRoot(runtimeDir != null ? runtimeDir : RuntimeDirs.defaultRoot())
                .commandTimeout(Duration.ofMillis((long) (timeoutSeconds * 1000)));
    }
}
