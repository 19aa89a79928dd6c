package io.hvspi.core.plugin;

import io.hvspi.spi.HypervisorFactory;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.pf4j.Extension;

/**
 * Builds a plugin jar the way a third party would: javac with pf4j's annotation
 * processor (so META-INF/extensions.idx is real), a manifest descriptor, a jar.
 */
final class PluginJarBuilder {
    private final Map<String, String> sources = new LinkedHashMap<>();
    private final Map<String, String> manifest = new LinkedHashMap<>();
    private final Map<String, byte[]> extraEntries = new LinkedHashMap<>();

    PluginJarBuilder descriptor(String id, String version, String requires) {
        manifest.put("Plugin-Id", id);
        manifest.put("Plugin-Version", version);
        if (requires != null) {
            manifest.put("Plugin-Requires", requires);
        }
        return this;
    }

    /** A source file {@code pkg/Name.java}, compiled with the others. */
    PluginJarBuilder source(String pkg, String name, String code) {
        sources.put(pkg.replace('.', '/') + "/" + name + ".java", code);
        return this;
    }

    /** A factory class {@code pkg.Name} returning {@code type}, whose constructor runs {@code ctorBody}. */
    PluginJarBuilder factory(String pkg, String name, String type, String ctorBody) {
        sources.put(pkg.replace('.', '/') + "/" + name + ".java", """
                package %s;
                import io.hvspi.spi.*;
                import java.util.Set;
                @org.pf4j.Extension
                public class %s implements HypervisorFactory {
                    public %s() { %s }
                    public String type() { return "%s"; }
                    public Set<Capability> declaredCapabilities() { return Set.of(Capability.BLOCK_DEVICE); }
                    public Hypervisor create(VmSpec spec, HostContext host) {
                        throw new UnsupportedCapabilityException(Capability.BLOCK_DEVICE, type());
                    }
                    public Hypervisor reattach(VmRecord record, HostContext host) {
                        throw new UnsupportedCapabilityException(Capability.BLOCK_DEVICE, type());
                    }
                }
                """.formatted(pkg, name, name, ctorBody, type));
        return this;
    }

    /** A manifest attribute besides the descriptor's, e.g. {@code Plugin-Dependencies}. */
    PluginJarBuilder manifest(String name, String value) {
        manifest.put(name, value);
        return this;
    }

    /**
     * A factory class {@code pkg.Name} whose members are {@code members} (Java source: at least
     * {@code type()} and {@code declaredCapabilities()}), for factories that misbehave after construction.
     */
    PluginJarBuilder factoryWith(String pkg, String name, String members) {
        sources.put(pkg.replace('.', '/') + "/" + name + ".java", """
                package %s;
                import io.hvspi.spi.*;
                import java.util.Set;
                @org.pf4j.Extension
                public class %s implements HypervisorFactory {
                    %s
                    public Hypervisor create(VmSpec spec, HostContext host) {
                        throw new UnsupportedCapabilityException(Capability.BLOCK_DEVICE, type());
                    }
                    public Hypervisor reattach(VmRecord record, HostContext host) {
                        throw new UnsupportedCapabilityException(Capability.BLOCK_DEVICE, type());
                    }
                }
                """.formatted(pkg, name, members));
        return this;
    }

    PluginJarBuilder entry(String name, byte[] bytes) {
        extraEntries.put(name, bytes);
        return this;
    }

    Path build(Path jar) {
        try {
            Path work = Files.createTempDirectory(jar.getParent(), "build-");
            Path src = work.resolve("src");
            Path classes = work.resolve("classes");
            List<String> args = new ArrayList<>(List.of("-proc:full", "--release", "21", "-d", classes.toString(),
                    "-classpath", location(HypervisorFactory.class) + java.io.File.pathSeparator + location(Extension.class)));
            for (Map.Entry<String, String> s : sources.entrySet()) {
                Path file = src.resolve(s.getKey());
                Files.createDirectories(file.getParent());
                Files.writeString(file, s.getValue());
                args.add(file.toString());
            }
            if (!sources.isEmpty()) {
                JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
                if (javac.run(null, null, System.err, args.toArray(String[]::new)) != 0) {
                    throw new IllegalStateException("test plugin did not compile");
                }
            }
            Manifest mf = new Manifest();
            mf.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
            manifest.forEach((k, v) -> mf.getMainAttributes().putValue(k, v));
            try (OutputStream out = Files.newOutputStream(jar); JarOutputStream jos = new JarOutputStream(out, mf)) {
                if (Files.isDirectory(classes)) {
                    try (Stream<Path> files = Files.walk(classes)) {
                        for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
                            jos.putNextEntry(new JarEntry(classes.relativize(f).toString()));
                            jos.write(Files.readAllBytes(f));
                            jos.closeEntry();
                        }
                    }
                }
                for (Map.Entry<String, byte[]> e : extraEntries.entrySet()) {
                    jos.putNextEntry(new JarEntry(e.getKey()));
                    jos.write(e.getValue());
                    jos.closeEntry();
                }
            }
            return jar;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String location(Class<?> type) {
        try {
            return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
