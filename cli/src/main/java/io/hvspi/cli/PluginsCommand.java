package io.hvspi.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.core.plugin.PluginRegistry;
import io.hvspi.spi.Capability;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * {@code hvctl plugins}. Its model is built in code, as hvctl's own is ({@link Hvctl} says why),
 * with the options of a {@link PluginReadingCommand}: {@code --json} and {@code --plugins-dir}.
 */
final class PluginsCommand implements Callable<Integer> {
    private final PluginOptions pluginOptions = new PluginOptions();
    private CommandSpec spec;

    private PluginsCommand() {}

    /** A new command with its model. */
    static CommandSpec spec() {
        PluginsCommand command = new PluginsCommand();
        command.spec = CommandSpec.wrapWithoutInspection(command).name("plugins");
        command.spec.usageMessage()
                .header("List the installed hypervisor plugins.")
                .description("Lists each plugin jar with its hypervisor type and the capabilities it declares; jars"
                        + " that did not load are listed with the reason. An empty or missing plugins directory is a"
                        + " warning. Exits 4 when two plugins claim one hypervisor type (neither is used until one is"
                        + " removed).");
        command.spec.addOption(OptionSpec.builder(CliCommand.JSON).type(boolean.class).description(CliCommand.JSON_HELP)
                .build());
        command.spec.addOption(OptionSpec.builder(PluginOptions.DIR).type(Path.class).paramLabel("DIR")
                .converters(new PluginOptions.Dir())
                .description(PluginOptions.DIR_HELP).build());
        return command.spec;
    }

    @Override
    public Integer call() {
        boolean json = spec.commandLine().getParseResult().matchedOptionValue(CliCommand.JSON, false);
        pluginOptions.pluginsDir = spec.commandLine().getParseResult().matchedOptionValue(PluginOptions.DIR, null);
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Optional<PluginRegistry> loaded = pluginOptions.registryOrWarn(err);
        if (loaded.isEmpty()) {
            if (json) {
                ObjectNode doc = Json.object().put("pluginsDir", pluginOptions.directory().toString());
                doc.putArray("plugins");
                doc.putArray("skipped");
                doc.putArray("conflicts");
                Json.print(out, doc);
            } else {
                new Table("PLUGIN", "VERSION", "TYPE", "DESCRIPTION", "CAPABILITIES").print(out);
            }
            return ExitCode.OK;
        }
        try (PluginRegistry registry = loaded.get()) {
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
            registry.conflicts().forEach(c -> err.println("hvctl: error: " + c.message()));
            return registry.conflicts().isEmpty() ? ExitCode.OK : ExitCode.PLUGIN;
        }
    }

    private static void describe(ObjectNode p, PluginRegistry.Entry e) {
        p.put("id", e.pluginId())
                .put("version", e.version())
                .put("type", e.type())
                .put("description", e.description())
                .put("requires", e.requires())
                .put("file", e.file().toString())
                .put("classpath", e.classpath());
        ArrayNode caps = p.putArray("capabilities");
        Capabilities.sorted(e.declaredCapabilities()).forEach(c -> caps.add(c.key()));
    }

    private static void row(Table table, PluginRegistry.Entry e, String type) {
        table.row(e.pluginId(), e.version(), type, e.description(),
                Capabilities.sorted(e.declaredCapabilities()).stream()
                        .map(Capability::key).collect(Collectors.joining(",")));
    }
}
