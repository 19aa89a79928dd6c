package io.hvspi.core.plugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.pf4j.CompoundPluginDescriptorFinder;
import org.pf4j.ManifestPluginDescriptorFinder;
import org.pf4j.PluginDescriptor;
import org.pf4j.PluginDescriptorFinder;
import org.pf4j.PropertiesPluginDescriptorFinder;

/** The finder that skips pf4j's zip file system for manifest jars answers as pf4j's own finders do. */
class JarDescriptorFinderTest {
    @TempDir
    Path dir;

    private final PluginDescriptorFinder pf4j = new CompoundPluginDescriptorFinder()
            .add(new PropertiesPluginDescriptorFinder()).add(new ManifestPluginDescriptorFinder());
    private final PluginDescriptorFinder ours = new JarDescriptorFinder();

    private static final String PROPERTIES = "plugin.id=from-properties\nplugin.version=2.0.0\nplugin.requires=>=1.0.0\n";

    @Test
    void aManifestJarIsReadFromItsManifestWithoutTheZipFileSystem() {
        Path jar = new PluginJarBuilder().descriptor("manifest-only", "1.2.3", ">=1.0.0").build(dir.resolve("m.jar"));
        assertTrue(JarDescriptorFinder.jarWithoutProperties(jar));
        assertSame(pf4j.find(jar), ours.find(jar));
        assertEquals("manifest-only", ours.find(jar).getPluginId());
    }

    @Test
    void pluginPropertiesStillWinsOverTheManifestAsInPf4j() {
        Path jar = new PluginJarBuilder().descriptor("in-manifest", "1.0.0", ">=1.0.0")
                .entry("plugin.properties", PROPERTIES.getBytes(StandardCharsets.UTF_8)).build(dir.resolve("both.jar"));
        assertFalse(JarDescriptorFinder.jarWithoutProperties(jar));
        assertSame(pf4j.find(jar), ours.find(jar));
        assertEquals("from-properties", ours.find(jar).getPluginId());
    }

    @Test
    void noDescriptorAndNoJarFailAsInPf4j() throws Exception {
        Path bare = new PluginJarBuilder().build(dir.resolve("bare.jar"));
        assertEquals(failure(() -> pf4j.find(bare)), failure(() -> ours.find(bare)));
        Path corrupt = Files.writeString(dir.resolve("corrupt.jar"), "not a zip");
        assertFalse(JarDescriptorFinder.jarWithoutProperties(corrupt));
        assertEquals(failure(() -> pf4j.find(corrupt)), failure(() -> ours.find(corrupt)));
        assertEquals(pf4j.isApplicable(corrupt), ours.isApplicable(corrupt));
        assertEquals(pf4j.isApplicable(dir.resolve("missing.jar")), ours.isApplicable(dir.resolve("missing.jar")));
    }

    private static void assertSame(PluginDescriptor expected, PluginDescriptor actual) {
        assertEquals(expected.getPluginId(), actual.getPluginId());
        assertEquals(expected.getVersion(), actual.getVersion());
        assertEquals(expected.getRequires(), actual.getRequires());
        assertEquals(expected.getPluginClass(), actual.getPluginClass());
        assertEquals(expected.getDependencies().size(), actual.getDependencies().size());
    }

    private static String failure(Runnable find) {
        try {
            find.run();
            return "no failure";
        } catch (RuntimeException e) {
            return e.getClass().getName() + ": " + e.getMessage();
        }
    }
}
