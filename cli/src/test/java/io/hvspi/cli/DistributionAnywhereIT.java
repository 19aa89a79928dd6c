package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged distribution copied out of the checkout and run as a user would,
 * from another directory, with nothing pointing back at the source tree (no
 * {@code hvspi.*} properties, no {@code HVSPI_*} variables): every resource it
 * needs is inside its jars. The Kata configurations are copied next to it first.
 */
class DistributionAnywhereIT {
    @TempDir
    static Path outside;

    static Path dist;

    record Run(int exit, String output) {}

    @BeforeAll
    static void copyTheDistributionOut() throws IOException {
        dist = HvctlRunner.copyTree(HvctlRunner.home(), outside.resolve("hvctl"), true);
        for (String config : List.of("configuration-clh.toml", "configuration-dragonball.toml")) {
            Files.copy(HvctlRunner.fixture(config), outside.resolve(config));
        }
    }

    /** bin/hvctl in {@code outside}, with a private runtime root and the source tree out of reach. */
    private static Run hvctl(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(dist.resolve("bin/hvctl").toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).directory(outside.toFile()).redirectErrorStream(true);
        Map<String, String> env = pb.environment();
        env.keySet().removeIf(k -> k.startsWith("HVSPI_"));
        env.put("HVSPI_RUNTIME_DIR", outside.resolve("run").toString());
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.MINUTES), "hvctl did not exit");
        return new Run(p.exitValue(), output);
    }

    /** Java's class path cannot hold a ':': a distribution under such a path says so in one line. */
    @Test
    void aPathWithAColonIsOneClearError() throws Exception {
        Path colon = HvctlRunner.copyTree(dist, outside.resolve("a:b").resolve("hvctl"), true);
        Process p = new ProcessBuilder(colon.resolve("bin/hvctl").toString(), "plugins").redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(1, p.exitValue(), output);
        assertEquals(List.of("hvctl: error: the distribution is in " + colon.toRealPath() + ", a path with ':', which"
                + " Java's class path cannot hold", "hvctl: hint: move or copy it to a directory whose path has no ':'"),
                output.lines().toList());
    }

    @Test
    void compatPassesForEveryBundledPlugin() throws Exception {
        Path out = outside.resolve("compat-out");
        Run r = hvctl("compat", "--out", out.toString());
        assertEquals(0, r.exit(), r.output());
        for (String type : List.of("qemu", "clh", "dragonball")) {
            assertTrue(r.output().lines().anyMatch(l -> l.startsWith(type + " ") && l.contains("tested")), r.output());
        }
        assertTrue(Files.isRegularFile(out.resolve("compat.json")));
    }

    @Test
    void runSimulatedCloudHypervisorFromAKataConfiguration() throws Exception {
        Run r = hvctl("run", outside.resolve("configuration-clh.toml").toString(), "--simulate");
        assertEquals(0, r.exit(), r.output());
        assertFalse(r.output().contains("Exception"), r.output());
    }

    @Test
    void runSimulatedDragonballFromAKataConfiguration() throws Exception {
        Run r = hvctl("run", outside.resolve("configuration-dragonball.toml").toString(), "--simulate");
        assertEquals(0, r.exit(), r.output());
        assertFalse(r.output().contains("Exception"), r.output());
    }

    @Test
    void everyHvspiJarNamesItsModule() throws IOException {
        List<Path> jars = new ArrayList<>();
        for (String dir : List.of("lib", "plugins")) {
            try (Stream<Path> files = Files.list(dist.resolve(dir))) {
                files.filter(f -> f.getFileName().toString().startsWith("hvspi-")).forEach(jars::add);
            }
        }
        assertEquals(9, jars.size(), jars::toString); // cli, spi, core, tck, simulators, test-guest + 3 plugins
        for (Path jar : jars) {
            try (JarFile j = new JarFile(jar.toFile())) {
                String name = j.getManifest().getMainAttributes().getValue("Automatic-Module-Name");
                assertTrue(name != null && name.matches("io\\.hvspi(\\.[a-z]+)+"), jar + ": " + name);
            }
        }
    }
}
