package io.hvspi.tck.plugin;

import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.SpiVersion;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Predicate;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import org.pf4j.Extension;

/**
 * Packages a hypervisor plugin from its sources the way a plugin's own build
 * does: javac with pf4j's annotation processor (so {@code META-INF/extensions.idx}
 * is the real one), the SPI and pf4j only on the compile class path (never in
 * the jar), and the pf4j descriptor in the manifest. Registration tests and the
 * third-party example use it; it needs a JDK (javax.tools).
 */
public final class PluginJar {
    private final String pluginId;
    private final String version;
    private final Map<String, String> manifest = new LinkedHashMap<>();
    private final List<Path> sources = new ArrayList<>();

    private PluginJar(String pluginId, String version) {
        this.pluginId = Objects.requireNonNull(pluginId, "pluginId");
        this.version = Objects.requireNonNull(version, "version");
        int major = Integer.parseInt(SpiVersion.CURRENT.split("\\.")[0]);
        manifest.put("Plugin-Id", pluginId);
        manifest.put("Plugin-Version", version);
        manifest.put("Plugin-Requires", ">=" + major + ".0.0 & <" + (major + 1) + ".0.0");
        manifest.put("Plugin-Provider", "hvspi TCK");
    }

    /** A plugin {@code pluginId} at {@code version}, requiring the running SPI's major version. */
    public static PluginJar builder(String pluginId, String version) {
        return new PluginJar(pluginId, version);
    }

    /** Sets or adds a manifest attribute ({@code Plugin-Requires}, {@code Plugin-Description}, ...). */
    public PluginJar manifest(String name, String value) {
        manifest.put(name, value);
        return this;
    }

    /** Adds the {@code .java} files under {@code dir} that {@code include} accepts. */
    public PluginJar sources(Path dir, Predicate<Path> include) {
        try (Stream<Path> files = Files.walk(dir)) {
            files.filter(p -> p.toString().endsWith(".java")).filter(include).sorted().forEach(sources::add);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list plugin sources in " + dir + ": " + e.getMessage(), e);
        }
        return this;
    }

    /**
     * Compiles and writes the jar to {@code jar}, using {@code buildDir} (created,
     * then left for inspection) for the classes. Throws when javac reports errors,
     * with its output.
     */
    public Path build(Path jar, Path buildDir) {
        if (sources.isEmpty()) {
            throw new IllegalStateException("plugin '" + pluginId + "' has no sources");
        }
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        if (javac == null) {
            throw new IllegalStateException("packaging a plugin needs a JDK (javax.tools has no compiler here)");
        }
        try {
            Path classes = Files.createDirectories(buildDir.resolve(pluginId + "-classes"));
            List<String> args = new ArrayList<>(List.of("-proc:full", "--release", "21", "-nowarn",
                    "-d", classes.toString(),
                    "-classpath", location(HypervisorFactory.class) + File.pathSeparator + location(Extension.class)));
            StringWriter log = new StringWriter();
            try (StandardJavaFileManager files = javac.getStandardFileManager(null, null, StandardCharsets.UTF_8)) {
                if (javac.getTask(log, files, null, args, null, files.getJavaFileObjectsFromPaths(sources)).call()
                        != Boolean.TRUE) {
                    throw new IllegalStateException("plugin '" + pluginId + "' did not compile: " + log);
                }
            }
            Manifest mf = new Manifest();
            mf.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
            manifest.forEach((k, v) -> mf.getMainAttributes().putValue(k, v));
            Files.createDirectories(jar.toAbsolutePath().getParent());
            try (OutputStream out = Files.newOutputStream(jar); JarOutputStream jos = new JarOutputStream(out, mf);
                 Stream<Path> files = Files.walk(classes)) {
                for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
                    jos.putNextEntry(new JarEntry(classes.relativize(f).toString().replace(File.separatorChar, '/')));
                    jos.write(Files.readAllBytes(f));
                    jos.closeEntry();
                }
            }
            return jar;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot package plugin '" + pluginId + "': " + e.getMessage(), e);
        }
    }

    public String pluginId() {
        return pluginId;
    }

    public String version() {
        return version;
    }

    private static String location(Class<?> type) {
        try {
            return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        } catch (URISyntaxException e) {
            throw new IllegalStateException("cannot locate " + type.getName(), e);
        }
    }
}
