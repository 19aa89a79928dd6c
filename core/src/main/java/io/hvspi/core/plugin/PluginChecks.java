package io.hvspi.core.plugin;

import io.hvspi.spi.Capability;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.PluginException;
import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import java.util.regex.Pattern;
import java.util.zip.ZipException;
import org.pf4j.DefaultVersionManager;
import org.pf4j.PluginDescriptor;
import org.pf4j.PluginDescriptorFinder;
import org.pf4j.VersionManager;

/** The checks pf4j does not make, or makes only with a log line instead of a reason. */
final class PluginChecks {
    /** Kata's table keys are lower-case words; a type is used in file names and messages. */
    private static final Pattern TYPE = Pattern.compile("[a-z][a-z0-9_-]{0,31}");

    /** The descriptor finders hvspi's plugin manager uses (pf4j's, in its order). */
    private static final PluginDescriptorFinder DESCRIPTORS = new JarDescriptorFinder();
    private static final VersionManager VERSIONS = new DefaultVersionManager();

    private static final Pattern EXACT = Pattern.compile("\\d+\\.\\d+\\.\\d+");

    private PluginChecks() {}

    /**
     * The jar's pf4j descriptor, read before pf4j loads it, so that a malformed
     * one gives one line instead of pf4j's internals.
     */
    static PluginDescriptor descriptor(Path jar) {
        try {
            return DESCRIPTORS.find(jar);
        } catch (RuntimeException e) {
            throw new PluginException("unreadable plugin descriptor: " + describe(e), e);
        }
    }

    /**
     * The SPI range the plugin was built for must be stated and must hold this
     * SPI. A missing or {@code *} range is refused: pf4j would load such a plugin
     * on any SPI version, and a plugin built for another major version then fails
     * at run time with linkage errors instead of being skipped with a reason.
     */
    static void checkRequires(PluginDescriptor descriptor, String spiVersion) {
        String requires = descriptor.getRequires() == null ? "" : descriptor.getRequires().strip();
        if (requires.isEmpty() || requires.equals("*")) {
            throw new PluginException("Plugin-Requires is missing or '*', which would accept any SPI version;"
                    + " state the SPI range the plugin was built for, e.g. Plugin-Requires: " + exampleRange(spiVersion));
        }
        // pf4j reads a plain version as ">=" it (PluginManager.isExactVersionAllowed() is false)
        String range = EXACT.matcher(requires).matches() ? ">=" + requires : requires;
        String nextMajor = (Integer.parseInt(spiVersion.split("\\.")[0]) + 1) + ".0.0";
        boolean satisfied;
        boolean unbounded;
        try {
            satisfied = VERSIONS.checkVersionConstraint(spiVersion, range);
            unbounded = VERSIONS.checkVersionConstraint(nextMajor, range);
        } catch (RuntimeException e) {
            throw new PluginException("Plugin-Requires '" + requires + "' is not a version range (expected e.g. "
                    + exampleRange(spiVersion) + ")");
        }
        if (!satisfied) {
            throw new PluginException("requires SPI " + requires + ", but this host has SPI " + spiVersion);
        }
        if (unbounded) {
            // as '*' would: a plugin built for this major version would load on the next one and fail there
            throw new PluginException("Plugin-Requires '" + requires + "'" + (range.equals(requires) ? ""
                    : " (which pf4j reads as '" + range + "')") + " accepts SPI " + nextMajor
                    + " too; bound it below the next major version, e.g. Plugin-Requires: " + exampleRange(spiVersion));
        }
    }

    private static String exampleRange(String spiVersion) {
        int major = Integer.parseInt(spiVersion.split("\\.")[0]);
        return ">=" + major + ".0.0 & <" + (major + 1) + ".0.0";
    }

    /** The exception's type and message, on one line: what a plugin error says about the plugin's own throwable. */
    static String oneLine(Throwable t) {
        String text;
        try {
            text = t.getMessage();
        } catch (RuntimeException | LinkageError | StackOverflowError broken) {
            text = "(its getMessage() threw " + broken.getClass().getSimpleName() + ")"; // the plugin's bug too
        }
        String message = text == null || text.isBlank() ? t.getClass().getSimpleName()
                : t.getClass().getSimpleName() + ": " + text;
        return message.lines().map(String::strip).filter(l -> !l.isEmpty()).reduce((a, b) -> a + " " + b).orElse(message);
    }

    /** A readable jar with a pf4j descriptor that does not bundle the SPI (pf4j would find its extensions "not assignable"). */
    static void checkArchive(Path jar) {
        try (JarFile file = new JarFile(jar.toFile())) {
            Manifest manifest = file.getManifest();
            boolean hasManifestId = manifest != null && manifest.getMainAttributes().getValue("Plugin-Id") != null;
            if (!hasManifestId && file.getEntry("plugin.properties") == null) {
                throw new PluginException("no plugin descriptor (Plugin-Id in META-INF/MANIFEST.MF or plugin.properties)");
            }
            if (file.getEntry("io/hvspi/spi/HypervisorFactory.class") != null) {
                throw new PluginException("bundles its own copy of the hvspi SPI (io/hvspi/spi/);"
                        + " the SPI must be a provided dependency");
            }
        } catch (ZipException e) {
            throw new PluginException("not a valid jar: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new PluginException("cannot read: " + e.getMessage(), e);
        }
    }

    static HypervisorFactory instantiate(Class<? extends HypervisorFactory> factoryClass) {
        try {
            return factoryClass.getDeclaredConstructor().newInstance();
        } catch (InvocationTargetException e) {
            throw new PluginException(factoryClass.getName() + " failed in its constructor: " + describe(e.getTargetException()), e);
        } catch (ReflectiveOperationException e) {
            throw new PluginException(factoryClass.getName() + " cannot be instantiated: " + describe(e), e);
        }
    }

    /**
     * What a plugin threw while being loaded, to skip its jar with: anything but the JVM's own
     * trouble (out of memory), which is rethrown. A StackOverflowError is the plugin's recursion.
     */
    static Throwable pluginsFault(Throwable t) {
        if (t instanceof VirtualMachineError v && !(t instanceof StackOverflowError)) {
            throw v;
        }
        return t;
    }

    /** How long a factory may take to be made and to say what it is. */
    static final Duration LOAD_TIMEOUT = Duration.ofSeconds(10);

    /**
     * Runs plugin code of the load (a factory's constructor, type, description, capabilities) on a
     * thread of its own, given up past {@link #LOAD_TIMEOUT}: the jar is then skipped, and the thread,
     * stuck in the plugin, is left behind.
     */
    static <T> T bounded(String what, java.util.concurrent.Callable<T> pluginCode) {
        return switch (PluginCall.run("hvspi-plugin-load", LOAD_TIMEOUT, pluginCode)) {
            case PluginCall.Returned<T> returned -> returned.value();
            case PluginCall.Threw<T> threw when threw.thrown() instanceof RuntimeException r -> throw r;
            case PluginCall.Threw<T> threw when threw.thrown() instanceof Error e -> throw e;
            case PluginCall.Threw<T> threw -> throw new PluginException(what + " failed while being loaded: "
                    + describe(threw.thrown()), threw.thrown());
            case PluginCall.TimedOut<T> timedOut -> throw new PluginException(what + " did not return within "
                    + LOAD_TIMEOUT.toSeconds() + " s while being loaded");
        };
    }

    /** The factory's one-line description, read once. */
    static String description(HypervisorFactory factory) {
        String description = factory.description();
        if (description == null) {
            throw new PluginException(factory.getClass().getName() + ".description() returned null");
        }
        return description.lines().map(String::strip).filter(l -> !l.isEmpty()).findFirst().orElse("");
    }

    /** What the factory declares, read once: a factory that cannot say what it supports is unusable. */
    static Set<Capability> declaredCapabilities(HypervisorFactory factory) {
        Set<Capability> declared = factory.declaredCapabilities();
        if (declared == null) {
            throw new PluginException(factory.getClass().getName() + ".declaredCapabilities() returned null");
        }
        EnumSet<Capability> copy = EnumSet.noneOf(Capability.class);
        for (Capability c : declared) {
            if (c == null) {
                throw new PluginException(factory.getClass().getName()
                        + ".declaredCapabilities() returned a set holding null");
            }
            copy.add(c);
        }
        return Collections.unmodifiableSet(copy);
    }

    /**
     * hvspi loads each plugin on its own: a {@code Plugin-Dependencies} on another plugin is refused
     * here, before pf4j, which would keep the unresolved plugin and fail every later load on it.
     */
    static void checkNoDependencies(PluginDescriptor descriptor) {
        List<String> required = descriptor.getDependencies().stream().filter(d -> !d.isOptional())
                .map(d -> d.getPluginId()).toList();
        if (!required.isEmpty()) {
            throw new PluginException("plugin '" + descriptor.getPluginId() + "' declares Plugin-Dependencies "
                    + required + "; hvspi loads each plugin on its own: bundle what it needs into its jar");
        }
    }

    static String checkType(HypervisorFactory factory) {
        String type = factory.type();
        if (type == null || !TYPE.matcher(type).matches()) {
            throw new PluginException(factory.getClass().getName() + " returns an invalid hypervisor type '" + type
                    + "' (expected a lower-case name like qemu or clh)");
        }
        return type;
    }

    /** The most telling one-line message of an exception chain (the root cause of a failed constructor, say). */
    static String describe(Throwable e) {
        if (e == null) {
            return "unknown error";
        }
        if (e instanceof PluginException) {
            return e.getMessage();
        }
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        if (root instanceof InvocationTargetException ite && ite.getTargetException() != null) {
            root = ite.getTargetException();
        }
        return oneLine(root);
    }
}
