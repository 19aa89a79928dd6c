package io.hvspi.core.plugin;

import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.PluginException;
import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.nio.file.Path;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import java.util.regex.Pattern;
import java.util.zip.ZipException;

/** The checks pf4j does not make, or makes only with a log line instead of a reason. */
final class PluginChecks {
    /** Kata's table keys are lower-case words; a type is used in file names and messages. */
    private static final Pattern TYPE = Pattern.compile("[a-z][a-z0-9_-]{0,31}");

    private PluginChecks() {}

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
        String message = root.getMessage() == null ? root.getClass().getSimpleName()
                : root.getClass().getSimpleName() + ": " + root.getMessage();
        return message.replace('\n', ' ');
    }
}
