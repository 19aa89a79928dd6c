package io.hvspi.cli;

import io.hvspi.spi.PluginException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the distribution lives: {@code bin/}, {@code lib/}, {@code plugins/},
 * {@code etc/configuration.toml}. The launcher passes {@code -Dhvspi.home}.
 */
final class Home {
    private Home() {}

    static Path dir() {
        String home = System.getProperty("hvspi.home");
        if (home == null || home.isBlank()) {
            throw new PluginException("hvspi.home is not set; run hvctl through its launcher (bin/hvctl)"
                    + " or pass --plugins-dir");
        }
        return Path.of(home);
    }

    static Path pluginsDir() {
        return dir().resolve("plugins");
    }

    /** The bundled default configuration: QEMU with a pool of four independent IOThreads. */
    static Path defaultConfig() {
        Path config = dir().resolve("etc").resolve("configuration.toml");
        if (!Files.isRegularFile(config)) {
            throw new PluginException("the bundled configuration " + config + " is missing; pass a CONFIG file");
        }
        return config;
    }
}
