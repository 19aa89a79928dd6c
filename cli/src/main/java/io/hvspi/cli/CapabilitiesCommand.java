package io.hvspi.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.core.plugin.PluginRegistry;
import io.hvspi.spi.Capability;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import picocli.CommandLine.Command;

@Command(name = "capabilities", header = "Show which capabilities each installed plugin declares.",
        description = "A matrix: one row per capability, one column per hypervisor type of the installed plugins.")
final class CapabilitiesCommand extends PluginReadingCommand {

    @Override
    public Integer call() {
        PrintWriter out = out();
        Optional<PluginRegistry> loaded = pluginOptions.registryOrWarn(err());
        try (PluginRegistry registry = loaded.orElse(null)) {
            List<PluginRegistry.Entry> entries = registry != null ? registry.entries() : List.of();
            if (json) {
                ObjectNode doc = Json.object();
                ArrayNode types = doc.putArray("types"); // there when empty too: no plugin loaded
                entries.forEach(e -> types.add(e.type()));
                ObjectNode matrix = doc.putObject("capabilities");
                for (Capability c : Capability.values()) {
                    ObjectNode row = matrix.putObject(c.key());
                    entries.forEach(e -> row.put(e.type(), e.declaredCapabilities().contains(c)));
                }
                Json.print(out, doc);
                return ExitCode.OK;
            }
            List<String> header = new ArrayList<>(List.of("CAPABILITY", "KIND"));
            entries.forEach(e -> header.add(e.type()));
            Table table = new Table(header.toArray(String[]::new));
            for (Capability c : Capability.values()) {
                List<Object> row = new ArrayList<>(List.of(c.key(), c.isKataCapability() ? "kata" : "iothread"));
                entries.forEach(e -> row.add(e.declaredCapabilities().contains(c) ? "yes" : "no"));
                table.row(row.toArray());
            }
            table.print(out);
        }
        return ExitCode.OK;
    }
}
