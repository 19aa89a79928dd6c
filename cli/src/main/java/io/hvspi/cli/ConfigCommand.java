package io.hvspi.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.core.config.ConfigNote;
import io.hvspi.core.config.KataConfig;
import io.hvspi.core.plugin.PluginRegistry;
import io.hvspi.spi.ConfigException;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.VmSpec;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "config", header = "Check Kata configuration files.",
        description = "Work with Kata configuration files (configuration.toml).",
        subcommands = ConfigCommand.Check.class)
final class ConfigCommand {

    @Command(name = "check", header = "Validate a Kata configuration and show what it selects.",
            description = "Loads a Kata configuration.toml, applies annotations, and reports the selected hypervisor,"
            + " the effective IOThread settings and warnings. Exits 0 when valid, 3 when not.")
    static final class Check extends PluginReadingCommand {

        @Parameters(arity = "0..1", paramLabel = "FILE", description = "The configuration (default: the bundled one).")
        Path file;

        @Option(names = "--annotation", paramLabel = "KEY=VALUE",
                description = "A pod annotation io.katacontainers.config.hypervisor.*=VALUE (repeatable).")
        Map<String, String> annotations = new LinkedHashMap<>();

        @Option(names = "--strict", description = "Treat keys that neither Kata nor hvspi knows as errors.")
        boolean strict;

        @Override
        public Integer call() {
            PrintWriter out = out();
            PrintWriter err = err();
            KataConfig config;
            try {
                config = Configs.load(file, annotations);
            } catch (ConfigException e) {
                err.println("hvctl: error: " + e.getMessage()); // exactly one line: the check is the hint
                return ExitCode.CONFIG;
            }
            VmSpec vm = config.toVmSpec("config-check");
            Optional<String> plugin = pluginStatus(config.hypervisorName());
            if (json) {
                Json.print(out, toJson(config, vm, plugin));
            } else {
                print(out, config, vm, plugin);
            }
            if (strict && !config.unknownKeys().isEmpty()) {
                for (ConfigNote n : config.unknownKeys()) {
                    err.println("hvctl: error: " + n.format(config.source()));
                }
                return ExitCode.CONFIG;
            }
            return ExitCode.OK;
        }

        /** Empty when a plugin serves the hypervisor, else why not; checking a file must not need plugins. */
        private Optional<String> pluginStatus(String type) {
            try (PluginRegistry registry = pluginOptions.registry()) {
                registry.factory(type);
                return Optional.empty();
            } catch (HvspiException e) {
                return Optional.of(e.getMessage());
            }
        }

        private static void print(PrintWriter out, KataConfig config, VmSpec vm, Optional<String> plugin) {
            out.println(config.source() + ": valid");
            out.println("  hypervisor:   " + config.hypervisorName()
                    + plugin.map(p -> " (" + p + ")").orElse(" (plugin installed)"));
            out.println("  binary:       " + vm.binary());
            out.println("  machine:      " + machine(vm) + ", accel " + vm.accel() + ", " + vm.vcpus()
                    + " vCPU, " + vm.memoryMib() + " MiB");
            out.println("  block:        " + vm.block().driver() + ", aio " + vm.block().aio());
            out.println("  IOThreads:    " + ioThreads(vm));
            out.println("  hotplug:      " + vm.hotplugSlots() + " slots");
            if (!vm.placement().isNone()) {
                VmSpec.ThreadPlacement pl = vm.placement();
                out.println("  placement:    IOThreads on CPUs " + pl.ioThreadCpus().map(Object::toString).orElse("(any)")
                        + ", cgroup " + pl.ioThreadCgroup().orElse("(unchanged)") + "; vCPUs cgroup "
                        + pl.vcpuCgroup().orElse("(unchanged)"));
            }
            List<ConfigNote> warnings = config.warnings();
            if (!warnings.isEmpty()) {
                out.println("warnings:");
                warnings.forEach(w -> out.println("  " + w.format(config.source())));
            }
            if (!config.unknownKeys().isEmpty()) {
                out.println("unknown keys (kept; --strict makes them errors):");
                config.unknownKeys().forEach(u -> out.println("  " + u.format(config.source())));
            }
            out.flush();
        }

        /** Cloud Hypervisor and Dragonball configs have no machine_type: say so rather than print nothing. */
        static String machine(VmSpec vm) {
            String type = vm.machineType();
            return type == null || type.isBlank() ? "the VMM's own (no machine_type)" : type;
        }

        static String ioThreads(VmSpec vm) {
            VmSpec.IOThreadOptions io = vm.ioThreads();
            if (!io.enabled()) {
                return "disabled (enable_iothreads = false)"
                        + (io.independent() > 0 ? "; indep_iothreads = " + io.independent() + " has no effect" : "");
            }
            if (io.poolSize() == 0) {
                return "enabled, no independent pool (indep_iothreads = 0)";
            }
            return "pool of " + io.poolSize() + " (indep_iothread_0.." + (io.poolSize() - 1) + "), policy "
                    + io.policy().key();
        }

        private static ObjectNode toJson(KataConfig config, VmSpec vm, Optional<String> plugin) {
            ObjectNode doc = Json.object()
                    .put("file", config.source().toString())
                    .put("valid", true)
                    .put("hypervisor", config.hypervisorName())
                    .put("pluginInstalled", plugin.isEmpty());
            plugin.ifPresent(p -> doc.put("pluginProblem", p));
            doc.put("binary", vm.binary().toString())
                    .put("machineType", vm.machineType())
                    .put("accel", vm.accel())
                    .put("vcpus", vm.vcpus())
                    .put("memoryMib", vm.memoryMib())
                    .put("blockDriver", vm.block().driver())
                    .put("blockAio", vm.block().aio())
                    .put("hotplugSlots", vm.hotplugSlots());
            ObjectNode io = doc.putObject("iothreads")
                    .put("enabled", vm.ioThreads().enabled())
                    .put("independent", vm.ioThreads().independent())
                    .put("poolSize", vm.ioThreads().poolSize())
                    .put("policy", vm.ioThreads().policy().key());
            vm.placement().ioThreadCpus().ifPresent(c -> io.put("cpus", c.toString()));
            vm.placement().ioThreadCgroup().ifPresent(c -> io.put("cgroup", c));
            vm.placement().vcpuCgroup().ifPresent(c -> doc.put("vcpuCgroup", c));
            ArrayNode ids = io.putArray("ids");
            for (int i = 0; i < vm.ioThreads().poolSize(); i++) {
                ids.add("indep_iothread_" + i);
            }
            notes(doc.putArray("warnings"), config.warnings());
            notes(doc.putArray("unknownKeys"), config.unknownKeys());
            return doc;
        }

        private static void notes(ArrayNode array, List<ConfigNote> notes) {
            notes.forEach(n -> array.addObject().put("key", n.key()).put("line", n.line()).put("column", n.column())
                    .put("message", n.message()));
        }
    }

    private ConfigCommand() {}

    /** Loading shared by config check and run. */
    static final class Configs {
        private Configs() {}

        static KataConfig load(Path file, Map<String, String> annotations) {
            Path path = file != null ? file : Home.defaultConfig();
            KataConfig config = io.hvspi.core.config.KataConfigLoader.load(path);
            return annotations.isEmpty() ? config : config.withAnnotations(annotations);
        }

    }
}
