package io.hvspi.core.plugin;

import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.PluginException;
import io.hvspi.spi.SpiVersion;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.pf4j.DefaultPluginManager;
import org.pf4j.PluginManager;
import org.pf4j.PluginState;
import org.pf4j.PluginWrapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The hypervisor plugins installed in one directory, loaded with pf4j.
 *
 * <p>Each {@code .jar} is loaded on its own, so one bad jar (corrupt, no
 * descriptor, built for another SPI version, bundling its own SPI, a factory that
 * throws, a type already taken) is skipped with a reason naming the file while
 * the others still load.
 */
public final class PluginRegistry implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PluginRegistry.class);

    /** One hypervisor type provided by one plugin. */
    public record Entry(String pluginId, String version, String requires, Path file, HypervisorFactory factory) {
        public String type() {
            return factory.type();
        }
    }

    /** A file that was not loaded, and why. */
    public record Skipped(Path file, String reason) {}

    private final Path directory;
    private final PluginManager manager;
    private final List<Entry> entries;
    private final List<Skipped> skipped;

    private PluginRegistry(Path directory, PluginManager manager, List<Entry> entries, List<Skipped> skipped) {
        this.directory = directory;
        this.manager = manager;
        this.entries = List.copyOf(entries);
        this.skipped = List.copyOf(skipped);
    }

    /** Loads every {@code .jar} in {@code directory}; throws {@link PluginException} if the directory is missing. */
    public static PluginRegistry load(Path directory) {
        if (!Files.isDirectory(directory)) {
            throw new PluginException("plugins directory " + directory + " does not exist");
        }
        DefaultPluginManager manager = new DefaultPluginManager(List.of(directory));
        manager.setSystemVersion(SpiVersion.CURRENT);
        List<Entry> entries = new ArrayList<>();
        List<Skipped> skipped = new ArrayList<>();
        for (Path jar : jars(directory)) {
            try {
                entries.addAll(loadOne(manager, jar, entries));
            } catch (RuntimeException | LinkageError e) {
                String reason = PluginChecks.describe(e);
                LOG.warn("skipping plugin {}: {}", jar, reason);
                skipped.add(new Skipped(jar, reason));
            }
        }
        entries.sort(Comparator.comparing(Entry::type));
        return new PluginRegistry(directory, manager, entries, skipped);
    }

    private static List<Entry> loadOne(DefaultPluginManager manager, Path jar, List<Entry> loaded) {
        PluginChecks.checkArchive(jar);
        String id = manager.loadPlugin(jar);
        PluginWrapper plugin = manager.getPlugin(id);
        try {
            if (plugin.getPluginState() == PluginState.DISABLED) {
                throw new PluginException("requires SPI " + plugin.getDescriptor().getRequires()
                        + ", but this host has SPI " + SpiVersion.CURRENT);
            }
            if (manager.startPlugin(id) != PluginState.STARTED) {
                throw new PluginException("plugin '" + id + "' failed to start: "
                        + PluginChecks.describe(plugin.getFailedException()));
            }
            List<Class<? extends HypervisorFactory>> classes = manager.getExtensionClasses(HypervisorFactory.class, id);
            if (classes.isEmpty()) {
                throw new PluginException("plugin '" + id + "' has no HypervisorFactory extension"
                        + " (is META-INF/extensions.idx missing? pf4j's annotation processor writes it)");
            }
            List<Entry> result = new ArrayList<>();
            for (Class<? extends HypervisorFactory> factoryClass : classes) {
                // instantiated here rather than by pf4j, which would log a failing constructor and drop it silently
                HypervisorFactory factory = PluginChecks.instantiate(factoryClass);
                String type = PluginChecks.checkType(factory);
                Optional<Entry> taken = Stream.concat(loaded.stream(), result.stream())
                        .filter(e -> e.type().equals(type)).findFirst();
                if (taken.isPresent()) {
                    throw new PluginException("hypervisor type '" + type + "' is already provided by plugin '"
                            + taken.get().pluginId() + "' (" + taken.get().file().getFileName() + ")");
                }
                factory.declaredCapabilities(); // a factory that cannot say what it supports is unusable
                result.add(new Entry(id, plugin.getDescriptor().getVersion(), plugin.getDescriptor().getRequires(),
                        jar, factory));
            }
            return result;
        } catch (RuntimeException | LinkageError e) {
            manager.unloadPlugin(id);
            throw e;
        }
    }

    private static List<Path> jars(Path directory) {
        try (Stream<Path> files = Files.list(directory)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".jar") && Files.isRegularFile(p))
                    .sorted().toList();
        } catch (IOException e) {
            throw new PluginException("cannot list plugins directory " + directory + ": " + e.getMessage(), e);
        }
    }

    public Path directory() {
        return directory;
    }

    /** The loaded hypervisor types, sorted by type. */
    public List<Entry> entries() {
        return entries;
    }

    /** The files that were not loaded, with reasons. */
    public List<Skipped> skipped() {
        return skipped;
    }

    /** The installed types, sorted. */
    public List<String> types() {
        return entries.stream().map(Entry::type).toList();
    }

    public Optional<Entry> entry(String type) {
        return entries.stream().filter(e -> e.type().equals(type)).findFirst();
    }

    /** The factory for a Kata hypervisor type, or a {@link PluginException} listing what is installed. */
    public HypervisorFactory factory(String type) {
        return entry(type).map(Entry::factory).orElseThrow(() -> new PluginException(
                "no plugin installed for hypervisor '" + type + "' (installed: "
                        + (entries.isEmpty() ? "none" : entries.stream().map(Entry::type).collect(Collectors.joining(", ")))
                        + ")"));
    }

    @Override
    public void close() {
        // one by one over a copy: pf4j 3.15's stopPlugins() modifies the list it iterates
        for (PluginWrapper plugin : List.copyOf(manager.getPlugins())) {
            manager.unloadPlugin(plugin.getPluginId());
        }
    }
}
