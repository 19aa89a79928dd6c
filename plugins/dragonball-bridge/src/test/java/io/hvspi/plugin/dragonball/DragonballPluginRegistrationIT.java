package io.hvspi.plugin.dragonball;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.Capability;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.SpiVersion;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.pf4j.DefaultPluginManager;
import org.pf4j.PluginManager;
import org.pf4j.PluginState;

/** The packaged plugin jar loads through pf4j and offers the dragonball factory. */
class DragonballPluginRegistrationIT {
    @TempDir
    Path plugins;

    @Test
    void thePackagedJarRegistersTheDragonballFactory() throws Exception {
        Path jar = Path.of(System.getProperty("hvspi.pluginJar"));
        assertTrue(Files.isRegularFile(jar), "packaged plugin jar missing: " + jar);
        Files.copy(jar, plugins.resolve(jar.getFileName()));

        PluginManager manager = new DefaultPluginManager(plugins);
        manager.setSystemVersion(SpiVersion.CURRENT);
        manager.loadPlugins();
        manager.startPlugins();
        try {
            assertEquals(PluginState.STARTED, manager.getPlugin("dragonball-bridge").getPluginState());
            List<HypervisorFactory> factories = manager.getExtensions(HypervisorFactory.class, "dragonball-bridge");
            assertEquals(1, factories.size());
            HypervisorFactory f = factories.get(0);
            assertEquals("dragonball", f.type());
            assertTrue(f.declaredCapabilities().contains(Capability.PER_QUEUE_IO_THREADS));
            assertFalse(f.declaredCapabilities().contains(Capability.INDEPENDENT_IOTHREADS));
            assertTrue(f.getClass().getClassLoader() != HypervisorFactory.class.getClassLoader(),
                    "the factory comes from the plugin's own class loader");
        } finally {
            // unloadPlugins stops them too (pf4j 3.15's stopPlugins trips over its own list)
            manager.unloadPlugins();
        }
    }
}
