package io.hvspi.tck.compat;

import io.hvspi.spi.HypervisorFactory;
import java.util.Objects;

/**
 * One installed plugin to run the kit against.
 *
 * @param pluginId the pf4j plugin id (or the type, for a factory on the class path)
 * @param version the plugin's version
 * @param factory its hypervisor factory
 */
public record PluginUnderTest(String pluginId, String version, HypervisorFactory factory) {
    public PluginUnderTest {
        Objects.requireNonNull(pluginId, "pluginId");
        Objects.requireNonNull(version, "version");
        Objects.requireNonNull(factory, "factory");
    }

    /** The factory's hypervisor type, the report's column name. */
    public String type() {
        return factory.type();
    }
}
