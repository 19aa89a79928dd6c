package io.hvspi.cli;

import io.hvspi.core.plugin.PluginRegistry;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import picocli.CommandLine.Option;

/** --plugins-dir alone, for the commands that read plugins but start no VM (plugins, capabilities, config check). */
final class PluginOptions {
    static final String DIR = "--plugins-dir";
    static final String DIR_HELP = "Where plugin jars are (default: the distribution's plugins/).";

    @Option(names = DIR, paramLabel = "DIR", description = DIR_HELP)
    Path pluginsDir;

    Path directory() {
        return pluginsDir != null ? pluginsDir : Home.pluginsDir();
    }

    PluginRegistry registry() {
        return PluginRegistry.load(directory());
    }

    /**
     * The registry, or empty with a warning on {@code err} when the directory is missing: listing
     * nothing is then the answer, as {@code ls} of an empty directory, but the user hears why.
     */
    Optional<PluginRegistry> registryOrWarn(PrintWriter err) {
        if (!Files.isDirectory(directory())) {
            err.println("hvctl: warning: plugins directory " + directory() + " does not exist; no plugins");
            return Optional.empty();
        }
        PluginRegistry registry = registry();
        if (registry.entries().isEmpty() && registry.skipped().isEmpty() && registry.conflicts().isEmpty()) {
            err.println("hvctl: warning: no plugin jars in " + directory());
        }
        return Optional.of(registry);
    }
}
