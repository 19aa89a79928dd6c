package io.hvspi.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.core.plugin.PluginRegistry;
import io.hvspi.spi.Capability;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;

@Command(name = "plugins", description = {
        "List the installed hypervisor plugins and what they declare. Exits 4 when two plugins claim one",
        "hypervisor type (neither is used until one is removed)."})
final class PluginsCommand extends HvctlCommand {

    @Override
    public Integer call() {
        PrintWriter out = out();
        try (PluginRegistry registry = global.registry()) {
            if (json) {
                ObjectNode doc = Json.object().put("pluginsDir", registry.directory().map(Path::toString).orElse(null));
                ArrayNode plugins = doc.putArray("plugins");
                registry.entries().forEach(e -> describe(plugins.addObject(), e));
                ArrayNode skipped = doc.putArray("skipped");
                registry.skipped().forEach(s -> skipped.addObject().put("file", s.file().toString()).put("reason", s.reason()));
                ArrayNode conflicts = doc.putArray("conflicts");
                for (PluginRegistry.Conflict c : registry.conflicts()) {
                    ObjectNode n = conflicts.addObject().put("type", c.type()).put("message", c.message());
                    ArrayNode claimants = n.putArray("plugins");
                    c.claimants().forEach(e -> describe(claimants.addObject(), e));
                }
                Json.print(out, doc);
            } else {
                Table table = new Table("PLUGIN", "VERSION", "TYPE", "DESCRIPTION", "CAPABILITIES");
                registry.entries().forEach(e -> row(table, e, e.type()));
                registry.conflicts().forEach(c -> c.claimants().forEach(e -> row(table, e, e.type() + " (conflict)")));
                table.print(out);
                registry.skipped().forEach(s -> out.println("skipped " + s.file() + ": " + s.reason()));
            }
            out.flush();
            registry.conflicts().forEach(c -> err().println("hvctl: error: " + c.message()));
            return registry.conflicts().isEmpty() ? ExitCode.OK : ExitCode.PLUGIN;
        }
    }

    private static void describe(ObjectNode p, PluginRegistry.Entry e) {
        p.put("id", e.pluginId())
                .put("version", e.version())
                .put("type", e.type())
                .put("description", e.factory().description())
                .put("requires", e.requires())
                .put("file", e.file().toString())
                .put("classpath", e.classpath());
        ArrayNode caps = p.putArray("capabilities");
        Capabilities.sorted(e.factory().declaredCapabilities()).forEach(c -> caps.add(c.key()));
    }

    private static void row(Table table, PluginRegistry.Entry e, String type) {
        table.row(e.pluginId(), e.version(), type, e.factory().description(),
                Capabilities.sorted(e.factory().declaredCapabilities()).stream()
                        .map(Capability::key).collect(Collectors.joining(",")));
    }
}
