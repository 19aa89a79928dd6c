package io.hvspi.core.plugin;

import io.hvspi.spi.Capability;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.PluginException;
import io.hvspi.spi.SpiVersion;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.ZipFile;
import org.pf4j.DefaultExtensionFinder;
import org.pf4j.DefaultPluginFactory;
import org.pf4j.DefaultPluginManager;
import org.pf4j.ExtensionFinder;
import org.pf4j.IndexedExtensionFinder;
import org.pf4j.PluginDescriptor;
import org.pf4j.Plugin;
import org.pf4j.PluginDescriptorFinder;
import org.pf4j.PluginFactory;
import org.pf4j.PluginManager;
import org.pf4j.PluginState;
import org.pf4j.PluginWrapper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The hypervisor plugins installed in a directory of jars (loaded with pf4j, each
 * jar in its own class loader) and, when asked, the factories on the
 * application's class path.
 *
 * <p>Each {@code .jar} is loaded on its own, so one bad jar (corrupt, no
 * descriptor, a malformed, missing or unsatisfied {@code Plugin-Requires}, a
 * plugin id already taken, bundling its own SPI, a factory that throws) is
 * skipped with a reason naming the file while the others still load. A
 * hypervisor type claimed by two plugins is a {@link Conflict}: neither is used,
 * and {@link #factory} refuses the type naming both.
 *
 * <p>The factories handed out ({@link #factory}, {@link Entry#factory()}) are
 * guarded: whatever escapes plugin code that is not an {@link io.hvspi.spi.HvspiException}
 * becomes a {@link PluginException} naming the plugin, its jar and the SPI method,
 * and so do the VMs and views they make.
 */
public final class PluginRegistry implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PluginRegistry.class);

    /**
     * One hypervisor type provided by one plugin.
     *
     * @param pluginId the pf4j plugin id (for a class path factory: its jar's {@code Plugin-Id}, else its type)
     * @param file the plugin's jar (for a class path factory: the jar or class directory it came from)
     * @param classpath whether it was found on the application's class path rather than in the plugins directory
     * @param factory the factory behind hvspi's guard: use this one
     * @param pluginFactory the plugin's own object, unguarded: for the compatibility kit, which must see
     *                      exactly what the plugin throws
     */
    public record Entry(String pluginId, String version, String requires, Path file, boolean classpath,
                        String type, String description, Set<Capability> declaredCapabilities,
                        HypervisorFactory factory, HypervisorFactory pluginFactory) {

        /**
         * Asks the plugin for its type, description and capabilities once, here, where its faults
         * skip the jar: the registry and its users never call plugin code to list or look up a type.
         */
        static Entry of(String pluginId, String version, String requires, Path file, boolean classpath,
                        HypervisorFactory pluginFactory) {
            String blame = "plugin '" + pluginId + "' (" + (classpath ? "class path: " : "") + file + ")";
            String type = PluginChecks.checkType(pluginFactory);
            return new Entry(pluginId, version, requires, file, classpath, type,
                    PluginChecks.description(pluginFactory), PluginChecks.declaredCapabilities(pluginFactory),
                    PluginGuard.guard(pluginFactory, blame, type), pluginFactory);
        }

        /** Where it came from, for people: the jar, or {@code class path: LOCATION}. */
        public String origin() {
            return (classpath ? "class path: " : "") + file;
        }
    }

    /** A file that was not loaded, and why. */
    public record Skipped(Path file, String reason) {}

    /** A hypervisor type claimed by more than one plugin: none of them is used. */
    public record Conflict(String type, List<Entry> claimants) {
        public Conflict {
            claimants = List.copyOf(claimants);
        }

        /** One line naming every claimant and where it came from. */
        public String message() {
            return "hypervisor type '" + type + "' is claimed by " + claimants.size() + " plugins: "
                    + claimants.stream().map(e -> "'" + e.pluginId() + "' (" + e.origin() + ")")
                            .collect(Collectors.joining(" and "))
                    + "; remove all but one";
        }
    }

    /** Where to look for plugins: a directory of jars, the class path, or both. */
    public static final class Builder {
        private Path directory;
        private ClassLoader classpath;

        private Builder() {}

        /** Loads every {@code .jar} in {@code dir}, which must exist. */
        public Builder directory(Path dir) {
            this.directory = dir;
            return this;
        }

        /** Also finds the factories on the class path that loaded hvspi (through their {@code META-INF/extensions.idx}). */
        public Builder classpath() {
            return classpath(PluginRegistry.class.getClassLoader());
        }

        /** Also finds the factories that {@code loader} sees. */
        public Builder classpath(ClassLoader loader) {
            this.classpath = loader;
            return this;
        }

        public PluginRegistry load() {
            return PluginRegistry.load(Optional.ofNullable(directory), Optional.ofNullable(classpath));
        }
    }

    private final Optional<Path> directory;
    private final boolean searchedClasspath;
    private final PluginManager manager;
    private final List<Entry> entries;
    private final List<Skipped> skipped;
    private final List<Conflict> conflicts;

    private PluginRegistry(Optional<Path> directory, boolean searchedClasspath, PluginManager manager,
                           List<Entry> entries, List<Skipped> skipped, List<Conflict> conflicts) {
        this.directory = directory;
        this.searchedClasspath = searchedClasspath;
        this.manager = manager;
        this.entries = List.copyOf(entries);
        this.skipped = List.copyOf(skipped);
        this.conflicts = List.copyOf(conflicts);
    }

    /** Loads every {@code .jar} in {@code directory}; throws {@link PluginException} if the directory is missing. */
    public static PluginRegistry load(Path directory) {
        return builder().directory(directory).load();
    }

    /** A registry over a directory of jars and/or the class path: {@code builder().directory(d).classpath().load()}. */
    public static Builder builder() {
        return new Builder();
    }

    private static PluginRegistry load(Optional<Path> directory, Optional<ClassLoader> classpath) {
        directory.filter(d -> !Files.isDirectory(d)).ifPresent(d -> {
            throw new PluginException("plugins directory " + d + " does not exist");
        });
        DefaultPluginManager manager = new DefaultPluginManager(directory.map(List::of).orElse(List.of())) {
            @Override
            protected PluginDescriptorFinder createPluginDescriptorFinder() {
                return new JarDescriptorFinder();
            }

            @Override
            protected ExtensionFinder createExtensionFinder() {
                return pluginsOnlyExtensionFinder(this);
            }

            @Override
            protected PluginFactory createPluginFactory() {
                return new NamingPluginFactory();
            }
        };
        manager.setSystemVersion(SpiVersion.CURRENT);
        List<Entry> found = new ArrayList<>();
        List<Skipped> skipped = new ArrayList<>();
        classpath.ifPresent(loader -> {
            ClasspathPlugins.Found onClasspath = ClasspathPlugins.find(loader);
            found.addAll(onClasspath.entries());
            onClasspath.skipped().forEach(s -> skip(skipped, s.file(), s.reason()));
        });
        Map<String, Path> ids = new HashMap<>();
        for (Path jar : directory.map(PluginRegistry::jars).orElse(List.of())) {
            if (!Files.isRegularFile(jar)) {
                skip(skipped, jar, "not a jar file (a directory, or a link to nothing)");
                continue;
            }
            try {
                found.addAll(loadOne(manager, jar, ids));
            } catch (Throwable e) {
                skip(skipped, jar, PluginChecks.describe(PluginChecks.pluginsFault(e)));
            }
        }
        List<Conflict> conflicts = new ArrayList<>();
        List<Entry> entries = new ArrayList<>();
        found.stream().collect(Collectors.groupingBy(Entry::type, TreeMap::new, Collectors.toList()))
                .forEach((type, claimants) -> {
                    if (claimants.size() == 1) {
                        entries.add(claimants.get(0));
                    } else {
                        Conflict conflict = new Conflict(type, claimants);
                        LOG.warn("{}", conflict.message());
                        conflicts.add(conflict);
                    }
                });
        return new PluginRegistry(directory, classpath.isPresent(), manager, entries, skipped, conflicts);
    }

    /**
     * pf4j's extension finder without the class path's extension indexes: hvspi asks for the extensions
     * of one plugin at a time, never for the class path's (those are {@link ClasspathPlugins}' job), but
     * pf4j's finder reads {@code META-INF/extensions.idx} from every jar on the class path on its first
     * use, opening all of hvctl's libraries for nothing.
     */
    private static ExtensionFinder pluginsOnlyExtensionFinder(DefaultPluginManager manager) {
        DefaultExtensionFinder finder = new DefaultExtensionFinder(manager) {
            {
                finders.clear();
                finders.add(new IndexedExtensionFinder(manager) {
                    @Override
                    public Map<String, Set<String>> readClasspathStorages() {
                        return new LinkedHashMap<>();
                    }
                });
            }
        };
        manager.addPluginStateListener(finder);
        return finder;
    }

    /**
     * pf4j's plugin factory logs a {@code Plugin-Class} that cannot be made and returns null, which
     * reached the user as a NullPointerException in pf4j's start; this one throws, naming the class
     * and the plugin's own cause (pf4j then records it as the plugin's failure). Its constructor, and
     * its start, stop and delete, run bounded as a factory's code does: one that never returns must
     * not hang every command that lists plugins.
     */
    private static final class NamingPluginFactory extends DefaultPluginFactory {
        @Override
        public Plugin create(PluginWrapper wrapper) {
            Plugin plugin = super.create(wrapper);
            if (plugin == null) {
                throw new PluginException("Plugin-Class " + wrapper.getDescriptor().getPluginClass()
                        + " is not in the jar or is no org.pf4j.Plugin");
            }
            return new BoundedPlugin(plugin);
        }

        @Override
        protected Plugin createInstance(Class<?> pluginClass, PluginWrapper wrapper) {
            return PluginChecks.bounded("Plugin-Class " + pluginClass.getName(), () -> construct(pluginClass, wrapper));
        }

        private static Plugin construct(Class<?> pluginClass, PluginWrapper wrapper) {
            try {
                return (Plugin) pluginClass.getConstructor(PluginWrapper.class).newInstance(wrapper);
            } catch (NoSuchMethodException e) {
                // the constructor without parameters, below
            } catch (ReflectiveOperationException | LinkageError e) {
                throw failedConstructor(pluginClass, e);
            }
            try {
                return (Plugin) pluginClass.getConstructor().newInstance();
            } catch (ReflectiveOperationException | LinkageError e) {
                throw failedConstructor(pluginClass, e);
            }
        }

        private static PluginException failedConstructor(Class<?> pluginClass, Throwable e) {
            Throwable cause = e instanceof java.lang.reflect.InvocationTargetException i ? i.getTargetException() : e;
            return new PluginException("Plugin-Class " + pluginClass.getName() + " cannot be made: "
                    + PluginChecks.describe(cause), cause);
        }
    }

    /** A {@code Plugin-Class} whose start, stop and delete pf4j calls through {@link PluginChecks#bounded}. */
    private static final class BoundedPlugin extends Plugin {
        private final Plugin plugin;
        private final String name;

        BoundedPlugin(Plugin plugin) {
            this.plugin = plugin; // pf4j asks it only to start, stop and delete
            this.name = "Plugin-Class " + plugin.getClass().getName();
        }

        @Override
        public void start() {
            PluginChecks.bounded(name + ".start()", () -> {
                plugin.start();
                return null;
            });
        }

        @Override
        public void stop() {
            PluginChecks.bounded(name + ".stop()", () -> {
                plugin.stop();
                return null;
            });
        }

        @Override
        public void delete() {
            PluginChecks.bounded(name + ".delete()", () -> {
                plugin.delete();
                return null;
            });
        }
    }

    private static void skip(List<Skipped> skipped, Path file, String reason) {
        LOG.warn("skipping plugin {}: {}", file, reason);
        skipped.add(new Skipped(file, reason));
    }

    private static List<Entry> loadOne(DefaultPluginManager manager, Path jar, Map<String, Path> ids) {
        // While one ZipFile of a jar is open, the JDK shares its parsed central directory with every other
        // opened on the same file: the checks, pf4j's descriptor finders and the plugin's class loader each
        // open the jar, and each would otherwise read a 2 to 5 MB jar's directory again.
        ZipFile held = openOrNull(jar);
        try {
            return loadOneHeld(manager, jar, ids);
        } finally {
            closeQuietly(held);
        }
    }

    private static ZipFile openOrNull(Path jar) {
        try {
            return new ZipFile(jar.toFile());
        } catch (IOException | RuntimeException e) {
            return null; // checkArchive says what is wrong with it
        }
    }

    private static void closeQuietly(ZipFile zip) {
        if (zip != null) {
            try {
                zip.close();
            } catch (IOException e) {
                LOG.debug("closing {}: {}", zip.getName(), e.toString());
            }
        }
    }

    private static List<Entry> loadOneHeld(DefaultPluginManager manager, Path jar, Map<String, Path> ids) {
        PluginChecks.checkArchive(jar);
        PluginDescriptor descriptor = PluginChecks.descriptor(jar);
        Path first = ids.get(descriptor.getPluginId());
        if (first != null) {
            throw new PluginException("plugin id '" + descriptor.getPluginId() + "' is already used by "
                    + first.getFileName() + "; keep one of the two jars");
        }
        PluginChecks.checkRequires(descriptor, SpiVersion.CURRENT);
        PluginChecks.checkNoDependencies(descriptor);
        String id;
        try {
            id = manager.loadPlugin(jar);
        } catch (RuntimeException | LinkageError e) {
            // pf4j may keep a plugin it failed to resolve, and every later load would fail on it again
            if (manager.getPlugin(descriptor.getPluginId()) != null) {
                manager.unloadPlugin(descriptor.getPluginId());
            }
            throw e;
        }
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
            List<Class<? extends HypervisorFactory>> classes = factoryClasses(manager, id);
            if (classes.isEmpty()) {
                throw new PluginException("plugin '" + id + "' has no HypervisorFactory extension"
                        + " (is META-INF/extensions.idx missing? pf4j's annotation processor writes it)");
            }
            List<Entry> result = new ArrayList<>();
            for (Class<? extends HypervisorFactory> factoryClass : classes) {
                // instantiated here rather than by pf4j, which would log a failing constructor and drop it silently;
                // bounded: a constructor or type() that never returns must not hang every command that lists plugins
                result.add(PluginChecks.bounded(factoryClass.getName(), () -> Entry.of(id,
                        plugin.getDescriptor().getVersion(), plugin.getDescriptor().getRequires(), jar, false,
                        PluginChecks.instantiate(factoryClass))));
            }
            ids.put(id, jar);
            return result;
        } catch (Throwable e) {
            manager.unloadPlugin(id);
            throw e;
        }
    }

    /**
     * The plugin's factory classes, named by its extension index. Not pf4j's getExtensionClasses, which
     * also reads each class's {@code @Extension} for an ordinal hvspi has no use for: the JDK makes a
     * proxy class for each annotation type it reads (a JDK 25 AOT cache holds none), about a twentieth of
     * {@code hvctl plugins}' CPU. A class the index names that does not load fails the plugin, named;
     * pf4j would log it and go on without it.
     */
    private static List<Class<? extends HypervisorFactory>> factoryClasses(PluginManager manager, String id) {
        ClassLoader loader = manager.getPluginClassLoader(id);
        List<Class<? extends HypervisorFactory>> classes = new ArrayList<>();
        for (String name : manager.getExtensionClassNames(id)) {
            Class<?> type;
            try {
                type = loader.loadClass(name);
            } catch (ClassNotFoundException e) {
                throw new PluginException("plugin '" + id + "': META-INF/extensions.idx names " + name
                        + ", which is not in the jar", e);
            }
            if (HypervisorFactory.class.isAssignableFrom(type)) {
                classes.add(type.asSubclass(HypervisorFactory.class));
            }
        }
        return classes;
    }

    private static List<Path> jars(Path directory) {
        try (Stream<Path> files = Files.list(directory)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".jar")).sorted().toList();
        } catch (IOException e) {
            throw new PluginException("cannot list plugins directory " + directory + ": " + e.getMessage(), e);
        }
    }

    /** The directory of plugin jars, when one was given. */
    public Optional<Path> directory() {
        return directory;
    }

    /** Where plugins were looked for, for people: {@code plugins/ and the class path}. */
    public String sources() {
        List<String> parts = new ArrayList<>();
        directory.ifPresent(d -> parts.add(d.toString()));
        if (searchedClasspath) {
            parts.add("the class path");
        }
        return parts.isEmpty() ? "nowhere" : String.join(" and ", parts);
    }

    /** The usable hypervisor types, sorted by type (types in conflict are not among them). */
    public List<Entry> entries() {
        return entries;
    }

    /** The files that were not loaded, with reasons. */
    public List<Skipped> skipped() {
        return skipped;
    }

    /** The types claimed by more than one plugin, sorted by type. */
    public List<Conflict> conflicts() {
        return conflicts;
    }

    /** The installed types, sorted. */
    public List<String> types() {
        return entries.stream().map(Entry::type).toList();
    }

    public Optional<Entry> entry(String type) {
        return entries.stream().filter(e -> e.type().equals(type)).findFirst();
    }

    /**
     * The guarded factory for a Kata hypervisor type, or a {@link PluginException}
     * naming the plugins that claim it or listing what is installed.
     */
    public HypervisorFactory factory(String type) {
        for (Conflict conflict : conflicts) {
            if (conflict.type().equals(type)) {
                throw new PluginException(conflict.message());
            }
        }
        return entry(type).map(Entry::factory).orElseThrow(() -> new PluginException(
                "no plugin installed for hypervisor '" + type + "' (installed: "
                        + (entries.isEmpty() ? "none" : entries.stream().map(Entry::type).collect(Collectors.joining(", ")))
                        + ")"));
    }

    @Override
    public void close() {
        // one by one over a copy: pf4j 3.15's stopPlugins() modifies the list it iterates
        for (PluginWrapper plugin : List.copyOf(manager.getPlugins())) {
            try {
                manager.unloadPlugin(plugin.getPluginId());
            } catch (RuntimeException | LinkageError e) {
                // the others are still unloaded: one plugin's stop() that throws is its own trouble
                LOG.warn("unloading plugin '{}': {}", plugin.getPluginId(), PluginChecks.describe(e));
            }
        }
    }
}
