package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Capability;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.SpiVersion;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.pf4j.DefaultPluginManager;
import org.pf4j.PluginManager;
import org.pf4j.PluginState;

/**
 * The packaged plugin jar ({@code hvspi.pluginJar}, set by failsafe after
 * {@code package}) loads through pf4j as a host would load it, its factory is
 * found, and a VM runs through it: the shaded Jackson works inside the plugin's
 * class loader.
 */
class QemuPluginRegistrationIT {
    @TempDir
    Path tmp;

    @Test
    void thePackagedJarRegistersTheQemuFactoryAndRunsAVm() throws IOException {
        Path jar = Path.of(System.getProperty("hvspi.pluginJar"));
        assertTrue(Files.isRegularFile(jar), "package the plugin first: " + jar);
        try (JarFile j = new JarFile(jar.toFile())) {
            assertTrue(j.getEntry("META-INF/extensions.idx") != null, "pf4j's annotation processor ran");
            assertTrue(j.getEntry("com/fasterxml/jackson/databind/ObjectMapper.class") != null, "Jackson is bundled");
            assertTrue(j.getEntry("io/hvspi/spi/Hypervisor.class") == null, "the SPI is the host's, never bundled");
            assertTrue(j.getEntry("org/pf4j/PluginManager.class") == null, "pf4j is the host's");
            assertTrue(j.getEntry("org/slf4j/Logger.class") == null, "slf4j is the host's");
            assertEquals("qemu", j.getManifest().getMainAttributes().getValue("Plugin-Id"));
        }
        Path plugins = Files.createDirectories(tmp.resolve("plugins"));
        Files.copy(jar, plugins.resolve(jar.getFileName()));

        PluginManager pf4j = new DefaultPluginManager(plugins);
        pf4j.setSystemVersion(SpiVersion.CURRENT);
        pf4j.loadPlugins();
        pf4j.startPlugins();
        try {
            assertEquals(PluginState.STARTED, pf4j.getPlugin("qemu").getPluginState());
            // by plugin id: pf4j also lists extensions of the host's own class path, where the tests put target/classes
            List<HypervisorFactory> factories = pf4j.getExtensions(HypervisorFactory.class, "qemu");
            assertEquals(1, factories.size());
            HypervisorFactory factory = factories.get(0);
            assertEquals("qemu", factory.type());
            assertSame(pf4j.getPluginClassLoader("qemu"), factory.getClass().getClassLoader(),
                    "the factory comes from the packaged jar");
            assertNotSame(getClass().getClassLoader(), factory.getClass().getClassLoader());
            assertTrue(factory.declaredCapabilities().contains(Capability.INDEPENDENT_IOTHREADS));

            Hypervisor vm = factory.create(TestVms.spec("pf4j", 2, IOThreadPolicy.LEAST_LOADED), TestVms.host(tmp));
            try {
                vm.start();
                BlockDevice d = vm.requireHotplug().attach(
                        BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build());
                assertEquals(List.of("indep_iothread_0"), d.ioThreads());
                // the probe narrows the declared set: QEMU 7.2 has no iothread-vq-mapping, 9.0 and later do
                assertEquals(TestVms.installedQemu().atLeast(9, 0), vm.supports(Capability.IOTHREAD_VQ_MAPPING),
                        "vq-mapping on QEMU " + TestVms.installedQemu());
            } finally {
                vm.stop();
            }
        } finally {
            // unloadPlugins stops them first; pf4j 3.15.0's stopPlugins() throws ConcurrentModificationException
            pf4j.unloadPlugins();
        }
    }
}
