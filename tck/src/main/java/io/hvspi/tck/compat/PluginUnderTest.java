package io.hvspi.tck.compat;

import io.hvspi.spi.Capability;
import io.hvspi.spi.HypervisorFactory;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * One installed plugin to run the kit against.
 *
 * @param pluginId the pf4j plugin id (or the type, for a factory on the class path)
 * @param version the plugin's version
 * @param factory its hypervisor factory
 * @param declaration what the factory said about itself where it was loaded (hvctl's plugin registry
 *                    reads it once, bounded); empty when the runner must ask the factory, which it
 *                    then does bounded too
 */
public record PluginUnderTest(String pluginId, String version, HypervisorFactory factory,
                              Optional<Declaration> declaration) {
    public PluginUnderTest {
        Objects.requireNonNull(pluginId, "pluginId");
        Objects.requireNonNull(version, "version");
        Objects.requireNonNull(factory, "factory");
        Objects.requireNonNull(declaration, "declaration");
    }

    /** A plugin whose type, description and capabilities the runner reads from the factory itself. */
    public PluginUnderTest(String pluginId, String version, HypervisorFactory factory) {
        this(pluginId, version, factory, Optional.empty());
    }

    /** A plugin whose type, description and capabilities were read at load: the runner does not ask again. */
    public PluginUnderTest(String pluginId, String version, HypervisorFactory factory, String type,
                           String description, Set<Capability> declaredCapabilities) {
        this(pluginId, version, factory, Optional.of(new Declaration(type, description, declaredCapabilities)));
    }

    /** What a factory said about itself, read once. */
    public record Declaration(String type, String description, Set<Capability> declaredCapabilities) {
        public Declaration {
            Objects.requireNonNull(type, "type");
            Objects.requireNonNull(description, "description");
            declaredCapabilities = declaredCapabilities.isEmpty() ? Set.of()
                    : Set.copyOf(EnumSet.copyOf(declaredCapabilities));
        }
    }

    /**
     * The factory's hypervisor type, the report's column name: as read at load, else asked from the
     * factory (plugin code, unbounded here: the runner reads it bounded instead).
     */
    public String type() {
        return declaration.map(Declaration::type).orElseGet(factory::type);
    }
}
