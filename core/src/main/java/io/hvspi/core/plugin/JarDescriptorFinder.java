package io.hvspi.core.plugin;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.ZipFile;
import org.pf4j.CompoundPluginDescriptorFinder;
import org.pf4j.ManifestPluginDescriptorFinder;
import org.pf4j.PluginDescriptor;
import org.pf4j.PluginDescriptorFinder;
import org.pf4j.PropertiesPluginDescriptorFinder;
import org.pf4j.util.FileUtils;

/**
 * pf4j's descriptor finders in pf4j's order ({@code plugin.properties}, then the manifest), with the same
 * answers and errors, but a jar without {@code plugin.properties} goes straight to its manifest. pf4j's
 * properties finder opens every jar as a zip file system (an index of all its entries) only to find no
 * {@code plugin.properties} in a manifest-described jar: that was a third of {@code hvctl plugins}'
 * plugin loading, twice per jar (hvspi's checks and pf4j's load). Looking the entry up with a
 * {@link ZipFile} reads the jar's central directory, which the class loader reads anyway.
 */
final class JarDescriptorFinder implements PluginDescriptorFinder {
    private final PluginDescriptorFinder pf4jOrder = new CompoundPluginDescriptorFinder()
            .add(new PropertiesPluginDescriptorFinder()).add(new ManifestPluginDescriptorFinder());
    private final PluginDescriptorFinder manifestOnly = new CompoundPluginDescriptorFinder()
            .add(new ManifestPluginDescriptorFinder());

    @Override
    public boolean isApplicable(Path pluginPath) {
        return pf4jOrder.isApplicable(pluginPath);
    }

    @Override
    public PluginDescriptor find(Path pluginPath) {
        return (jarWithoutProperties(pluginPath) ? manifestOnly : pf4jOrder).find(pluginPath);
    }

    /** A readable jar with no {@code plugin.properties} at its root; anything else takes pf4j's path, errors too. */
    static boolean jarWithoutProperties(Path path) {
        if (!Files.isRegularFile(path) || !FileUtils.isZipOrJarFile(path)) {
            return false;
        }
        try (ZipFile zip = new ZipFile(path.toFile())) {
            return zip.getEntry(PropertiesPluginDescriptorFinder.DEFAULT_PROPERTIES_FILE_NAME) == null;
        } catch (IOException | RuntimeException e) {
            return false; // pf4j reports it, as it did
        }
    }
}
