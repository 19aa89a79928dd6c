package io.hvspi.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.core.plugin.PluginRegistry;
import io.hvspi.spi.Capability;
import java.io.PrintWriter;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;

@Command(name = "plugins", description = "List the installed hypervisor plugins and what they declare.")
final class PluginsCommand extends HvctlCommand {

    @Override
    public Integer call() {
        PrintWriter out = out();
        try (PluginRegistry registry = global.registry()) {
            if (json) {
                ObjectNode doc = Json.object().put("pluginsDir", registry.directory().map(Path::toString).orElse(null));
                ArrayNode plugins = doc.putArray("plugins");
                for (PluginRegistry.Entry e : registry.entries()) {
                    ObjectNode p = plugins.addObject()
                            .put("id", e.pluginId())
                            .put("version", e.version())
                            .put("type", e.type())
                            .put("description", e.factory().description())
                            .put("requires", e.requires())
                            .put("file", e.file().toString());
                    ArrayNode caps = p.putArray("capabilities");
                    Capabilities.sorted(e.factory().declaredCapabilities()).forEach(c -> caps.add(c.key()));
                }
                ArrayNode skipped = doc.putArray("skipped");
                registry.skipped().forEach(s -> skipped.addObject().put("file", s.file().toString()).put("reason", s.reason()));
                Json.print(out, doc);
            } else {
                Table table = new Table("PLUGIN", "VERSION", "TYPE", "DESCRIPTION", "CAPABILITIES");
                for (PluginRegistry.Entry e : registry.entries()) {
                    table.row(e.pluginId(), e.version(), e.type(), e.factory().description(),
                            Capabilities.sorted(e.factory().declaredCapabilities()).stream()
                                    .map(Capability::key).collect(Collectors.joining(",")));
                }
                table.print(out);
                registry.skipped().forEach(s -> out.println("skipped " + s.file() + ": " + s.reason()));
            }
        }
        return ExitCode.OK;
    }
}
