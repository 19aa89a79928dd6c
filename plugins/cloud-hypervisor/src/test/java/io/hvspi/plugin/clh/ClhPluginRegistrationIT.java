package io.hvspi.plugin.clh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.SpiVersion;
import io.hvspi.spi.VmState;
import io.hvspi.sim.clh.ClhSimulator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.jar.JarFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.pf4j.DefaultPluginManager;
import org.pf4j.PluginManager;
import org.pf4j.PluginState;

/**
 * The packaged plugin jar ({@code hvspi.pluginJar}, set by failsafe) loads
 * through pf4j as the host loads it, its factory is found, and a VM made by
 * that factory talks to the simulator: proof that the shaded HTTP client and
 * JSON library work inside the plugin's own class loader.
 */
class ClhPluginRegistrationIT {
    @TempDir
    Path tmp;

    private static Path pluginJar() {
        Path jar = Path.of(System.getProperty("hvspi.pluginJar", "target/missing.jar"));
        assertTrue(Files.isRegularFile(jar), "packaged plugin jar " + jar + " (run through failsafe after package)");
        return jar;
    }

    @Test
    void thePackagedJarBundlesItsLibrariesButNotTheHostsOwn() throws IOException {
        try (JarFile jar = new JarFile(pluginJar().toFile())) {
            assertEquals("cloud-hypervisor", jar.getManifest().getMainAttributes().getValue("Plugin-Id"));
            assertTrue(jar.getEntry("META-INF/extensions.idx") != null, "pf4j's extension index");
            assertTrue(jar.getEntry("org/eclipse/jetty/client/HttpClient.class") != null, "Jetty's client is shaded in");
            assertTrue(jar.getEntry("com/fasterxml/jackson/databind/ObjectMapper.class") != null, "Jackson is shaded in");
            for (String hostOwned : List.of("io/hvspi/spi/Hypervisor.class", "org/pf4j/Extension.class",
                    "org/slf4j/Logger.class", "io/hvspi/sim/clh/ClhSimulator.class")) {
                assertTrue(jar.getEntry(hostOwned) == null, hostOwned + " must come from the host");
            }
        }
    }

    @Test
    void pf4jFindsTheFactoryAndItsVmWorksAgainstTheSimulator() throws IOException {
        Path plugins = Files.createDirectories(tmp.resolve("plugins"));
        Files.copy(pluginJar(), plugins.resolve(pluginJar().getFileName()));
        PluginManager manager = new DefaultPluginManager(plugins);
        manager.setSystemVersion(SpiVersion.CURRENT);
        manager.loadPlugins();
        manager.startPlugins();
        try {
            assertEquals(PluginState.STARTED, manager.getPlugin("cloud-hypervisor").getPluginState());
            // by plugin id: pf4j also lists "system" extensions found on the test class path
            List<HypervisorFactory> factories = manager.getExtensions(HypervisorFactory.class, "cloud-hypervisor");
            assertEquals(1, factories.size());
            HypervisorFactory factory = factories.get(0);
            assertEquals("clh", factory.type());
            assertNotSame(ClhPluginRegistrationIT.class.getClassLoader(), factory.getClass().getClassLoader(),
                    "loaded by the plugin's class loader, not from the test class path");
            assertEquals(ClhHypervisorFactory.DECLARED, factory.declaredCapabilities());

            try (ClhSimulator sim = ClhSimulator.start(tmp.resolve("sim"))) {
                DefaultHostContext host = new DefaultHostContext(tmp.resolve("run"), Duration.ofSeconds(10),
                        Map.of("endpoint", sim.endpoint()));
                Path kernel = Files.writeString(tmp.resolve("vmlinux"), "kernel");
                Hypervisor vm = factory.create(TestVms.spec("it1", Path.of("/unused"), Optional.of(kernel), 1, Map.of()), host);
                try {
                    vm.start();
                    assertEquals(VmState.RUNNING, vm.state());
                    BlockDevice disk = vm.requireHotplug().attach(
                            BlockDeviceSpec.builder("d0", BlockBackend.path(TestVms.disk(tmp, "d0"))).build());
                    assertTrue(disk.address().isPresent());
                } finally {
                    vm.stop();
                }
                assertFalse(Files.exists(tmp.resolve("run/it1")));
            }
        } finally {
            // unloadPlugins stops them first (pf4j 3.15's stopPlugins() trips over its own list)
            manager.unloadPlugins();
        }
    }
}
