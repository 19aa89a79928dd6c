package io.hvspi.core.plugin;

import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.PluginException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.CodeSource;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.jar.JarFile;
import java.util.jar.Manifest;

/**
 * The {@link HypervisorFactory} extensions on an application's class path, found
 * the way pf4j finds a plugin's: through the {@code META-INF/extensions.idx}
 * that pf4j's annotation processor writes (one class name a line). No pf4j plugin
 * and no class loader of its own: the classes are the application's.
 */
final class ClasspathPlugins {
    static final String INDEX = "META-INF/extensions.idx";

    /** What was found: factories with where each came from, and what could not be used. */
    record Found(List<PluginRegistry.Entry> entries, List<PluginRegistry.Skipped> skipped) {}

    private ClasspathPlugins() {}

    static Found find(ClassLoader loader) {
        List<PluginRegistry.Entry> entries = new ArrayList<>();
        List<PluginRegistry.Skipped> skipped = new ArrayList<>();
        for (String name : indexedClassNames(loader)) {
            Class<?> type;
            try {
                type = Class.forName(name, false, loader);
            } catch (ClassNotFoundException | LinkageError e) {
                skipped.add(new PluginRegistry.Skipped(Path.of(INDEX), "class path extension " + name
                        + " cannot be loaded: " + PluginChecks.describe(e)));
                continue;
            }
            if (!HypervisorFactory.class.isAssignableFrom(type)) {
                continue; // another application's extension point
            }
            Path location = location(type);
            try {
                HypervisorFactory factory = PluginChecks.instantiate(type.asSubclass(HypervisorFactory.class));
                String factoryType = PluginChecks.checkType(factory);
                Optional<Manifest> manifest = manifest(location);
                String id = attribute(manifest, "Plugin-Id").orElse(factoryType);
                String version = attribute(manifest, "Plugin-Version")
                        .or(() -> Optional.ofNullable(type.getPackage().getImplementationVersion())).orElse("unknown");
                String requires = attribute(manifest, "Plugin-Requires").orElse("");
                entries.add(PluginRegistry.Entry.of(id, version, requires, location, true, factory));
            } catch (Throwable e) {
                skipped.add(new PluginRegistry.Skipped(location, PluginChecks.describe(PluginChecks.pluginsFault(e))));
            }
        }
        return new Found(entries, skipped);
    }

    private static Set<String> indexedClassNames(ClassLoader loader) {
        Set<String> names = new LinkedHashSet<>();
        try {
            for (URL index : Collections.list(loader.getResources(INDEX))) {
                try (InputStream in = index.openStream();
                     BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                    reader.lines().map(String::strip).filter(l -> !l.isEmpty() && !l.startsWith("#")).forEach(names::add);
                }
            }
        } catch (IOException e) {
            throw new PluginException("cannot read " + INDEX + " from the class path: " + e.getMessage(), e);
        }
        return names;
    }

    /** The jar or class directory a class came from. */
    static Path location(Class<?> type) {
        CodeSource source = type.getProtectionDomain().getCodeSource();
        if (source == null || source.getLocation() == null) {
            return Path.of(type.getName());
        }
        try {
            URI uri = source.getLocation().toURI();
            return "file".equals(uri.getScheme()) ? Path.of(uri) : Path.of(uri.toString());
        } catch (URISyntaxException | IllegalArgumentException e) {
            return Path.of(source.getLocation().toString());
        }
    }

    private static Optional<Manifest> manifest(Path location) {
        if (!location.toString().endsWith(".jar")) {
            return Optional.empty();
        }
        try (JarFile jar = new JarFile(location.toFile())) {
            return Optional.ofNullable(jar.getManifest());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static Optional<String> attribute(Optional<Manifest> manifest, String name) {
        return manifest.map(m -> m.getMainAttributes().getValue(name)).filter(v -> !v.isBlank());
    }
}
