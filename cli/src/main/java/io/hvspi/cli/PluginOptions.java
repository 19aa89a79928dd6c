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

    @Option(names = DIR, paramLabel = "DIR", description = DIR_HELP, converter = Dir.class)
    Path pluginsDir;

    /** A directory's path: an empty one would be the current directory, scanned for jars; it is refused. */
    static final class Dir implements picocli.CommandLine.ITypeConverter<Path> {
        @Override
        public Path convert(String value) {
            if (value.isBlank()) {
                throw new picocli.CommandLine.TypeConversionException("'" + value + "' is no directory: expected a"
                        + " path (use . for the current directory)");
            }
            return Path.of(value);
        }
    }

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
        if (Files.exists(directory()) && !Files.isDirectory(directory())) {
            err.println("hvctl: warning: plugins directory " + directory() + " is not a directory; no plugins");
            return Optional.empty();
        }
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
