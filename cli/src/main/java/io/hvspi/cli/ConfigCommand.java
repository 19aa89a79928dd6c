package io.hvspi.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.core.config.AnnotationPolicy;
import io.hvspi.core.config.ConfigNote;
import io.hvspi.core.config.KataConfig;
import io.hvspi.core.plugin.PluginRegistry;
import io.hvspi.spi.Capability;
import io.hvspi.spi.ConfigException;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.VmSpec;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "config", header = "Check Kata configuration files.",
        description = "Work with Kata configuration files (configuration.toml).",
        subcommands = ConfigCommand.Check.class)
final class ConfigCommand {

    @Command(name = "check", header = "Validate a Kata configuration and show what it selects.",
            description = "Loads a Kata configuration.toml, applies annotations, and reports the selected hypervisor,"
            + " the effective IOThread settings, what each enable_annotations pattern enables, whether run would"
            + " start, and warnings. Exits 0 when valid, 3 when not (or with --strict and unknown keys).")
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
            if (file != null && file.toString().isBlank()) {
                throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                        "FILE is empty: expected the path of a configuration file");
            }
            KataConfig config;
            try {
                config = Configs.load(file, annotations);
            } catch (ConfigException e) {
                err.println("hvctl: error: " + e.getMessage()); // exactly one line: the check is the hint
                return ExitCode.CONFIG;
            }
            VmSpec vm = config.toVmSpec("config-check");
            PluginStatus plugin = pluginStatus(config.hypervisorName());
            boolean failsStrict = strict && !config.unknownKeys().isEmpty();
            List<String> runProblems = RunReadiness.problems(vm);
            if (json) {
                Json.print(out, toJson(config, vm, plugin, failsStrict, runProblems));
            } else {
                print(out, config, vm, plugin, failsStrict, runProblems);
            }
            if (failsStrict) {
                for (ConfigNote n : config.unknownKeys()) {
                    err.println("hvctl: error: " + n.format(config.source()));
                }
                return ExitCode.CONFIG;
            }
            return ExitCode.OK;
        }

        /**
         * Whether a plugin serves the type (else why not), and whether the VM has an
         * independent IOThread pool: the plugin's {@link Capability#INDEPENDENT_IOTHREADS}
         * when it is installed, else what Kata gives the type ({@link KataConfig#kataHasIoThreadPool()}).
         */
        record PluginStatus(Optional<String> problem, Optional<Boolean> declaresPool) {}

        /** Checking a file must not need plugins: a missing one is reported, not an error. */
        private PluginStatus pluginStatus(String type) {
            try (PluginRegistry registry = pluginOptions.registry()) {
                Set<Capability> caps = registry.factory(type).declaredCapabilities();
                return new PluginStatus(Optional.empty(), Optional.of(caps.contains(Capability.INDEPENDENT_IOTHREADS)));
            } catch (HvspiException e) {
                return new PluginStatus(Optional.of(e.getMessage()), Optional.empty());
            }
        }

        private static boolean hasPool(KataConfig config, PluginStatus plugin) {
            return plugin.declaresPool().orElseGet(config::kataHasIoThreadPool);
        }

        private static void print(PrintWriter out, KataConfig config, VmSpec vm, PluginStatus plugin,
                                  boolean failsStrict, List<String> runProblems) {
            out.println(config.source() + (failsStrict ? ": invalid under --strict (" + config.unknownKeys().size()
                    + " unknown " + (config.unknownKeys().size() == 1 ? "key" : "keys") + ")" : ": valid"));
            out.println("  runtime:      " + config.runtime().key() + " (read with the rules of Kata's "
                    + config.runtime().key() + " runtime)");
            out.println("  hypervisor:   " + config.hypervisorName()
                    + plugin.problem().map(p -> " (" + p + ")").orElse(" (plugin installed)"));
            out.println("  binary:       " + vm.binary());
            out.println("  machine:      " + machine(vm) + ", accel " + vm.accel() + ", " + vm.vcpus()
                    + " vCPU (max " + Math.max(vm.vcpus(), vm.maxVcpus()) + "), " + vm.memoryMib() + " MiB");
            out.println("  block:        " + vm.block().driver() + ", aio " + vm.block().aio());
            out.println("  IOThreads:    " + ioThreads(vm, config.hypervisorName(), hasPool(config, plugin)));
            out.println("  hotplug:      " + vm.hotplugSlots() + " slots");
            if (!vm.placement().isNone()) {
                VmSpec.ThreadPlacement pl = vm.placement();
                out.println("  placement:    IOThreads on CPUs " + pl.ioThreadCpus().map(Object::toString).orElse("(any)")
                        + ", cgroup " + pl.ioThreadCgroup().orElse("(unchanged)") + "; vCPUs cgroup "
                        + pl.vcpuCgroup().orElse("(unchanged)"));
            }
            out.println("  run:          " + (runProblems.isEmpty() ? "would start (binary and guest files present)"
                    : "would not start on this host: " + String.join("; ", runProblems)));
            Map<String, List<String>> patterns = AnnotationPolicy.enabledBy(config);
            if (!patterns.isEmpty()) {
                out.println("enable_annotations (RE2, unanchored, as Kata matches):");
                patterns.forEach((regex, names) -> out.println("  " + quote(regex) + " enables "
                        + (names.isEmpty() ? "nothing" + AnnotationPolicy.patternProblem(regex, config.runtime()).map(
                                p -> " (not a valid RE2 regular expression: " + p + ")").orElse("")
                        : String.join(", ", names))));
            }
            List<String> ignored = AnnotationPolicy.notActedOn(config.annotations());
            if (!ignored.isEmpty()) {
                out.println("annotations accepted as Kata accepts them, but hvspi does not act on them:");
                ignored.forEach(a -> out.println("  " + a));
            }
            List<ConfigNote> warnings = config.warnings();
            if (!warnings.isEmpty()) {
                out.println("warnings:");
                warnings.forEach(w -> out.println("  " + w.format(config.source())));
            }
            if (!config.unknownKeys().isEmpty()) {
                out.println(failsStrict ? "unknown keys (errors under --strict):"
                        : "unknown keys (kept; --strict makes them errors):");
                config.unknownKeys().forEach(u -> out.println("  " + u.format(config.source())));
            }
            out.flush();
        }

        /** Cloud Hypervisor and Dragonball configs have no machine_type: say so rather than print nothing. */
        static String machine(VmSpec vm) {
            String type = vm.machineType();
            return type == null || type.isBlank() ? "the VMM's own (no machine_type)" : type;
        }

        /** The IOThread line for {@code vm}, with a pool only where Kata's hypervisor type has one. */
        static String ioThreads(VmSpec vm) {
            return ioThreads(vm, vm.hypervisorType(), KataConfig.kataHasIoThreadPool(vm.hypervisorType()));
        }

        /** A pattern as a JSON string literal: its characters escaped, so it stays one line. */
        private static String quote(String s) {
            return "\"" + new String(com.fasterxml.jackson.core.io.JsonStringEncoder.getInstance().quoteAsString(s))
                    + "\"";
        }

        /** The IOThread line; a VMM without a pool is said to have none, whatever the table asks. */
        static String ioThreads(VmSpec vm, String type, boolean pool) {
            VmSpec.IOThreadOptions io = vm.ioThreads();
            if (!pool) {
                return "no independent pool: " + type + " has none"
                        + (io.enabled() || io.independent() > 0 ? " (enable_iothreads and indep_iothreads have no"
                        + " effect; see the warnings)" : "");
            }
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

        private static ObjectNode toJson(KataConfig config, VmSpec vm, PluginStatus plugin, boolean failsStrict,
                                         List<String> runProblems) {
            ObjectNode doc = Json.object()
                    .put("file", config.source().toString())
                    .put("valid", !failsStrict)
                    .put("runtime", config.runtime().key())
                    .put("hypervisor", config.hypervisorName())
                    .put("pluginInstalled", plugin.problem().isEmpty());
            plugin.problem().ifPresent(p -> doc.put("pluginProblem", p));
            doc.put("binary", vm.binary().toString())
                    .put("machineType", vm.machineType())
                    .put("accel", vm.accel())
                    .put("vcpus", vm.vcpus())
                    .put("maxVcpus", Math.max(vm.vcpus(), vm.maxVcpus()))
                    .put("memoryMib", vm.memoryMib())
                    .put("blockDriver", vm.block().driver())
                    .put("blockAio", vm.block().aio())
                    .put("hotplugSlots", vm.hotplugSlots());
            boolean pool = hasPool(config, plugin);
            int poolSize = pool ? vm.ioThreads().poolSize() : 0;
            ObjectNode io = doc.putObject("iothreads")
                    .put("pool", pool)
                    .put("enabled", vm.ioThreads().enabled())
                    .put("independent", vm.ioThreads().independent())
                    .put("poolSize", poolSize)
                    .put("policy", vm.ioThreads().policy().key());
            vm.placement().ioThreadCpus().ifPresent(c -> io.put("cpus", c.toString()));
            vm.placement().ioThreadCgroup().ifPresent(c -> io.put("cgroup", c));
            vm.placement().vcpuCgroup().ifPresent(c -> doc.put("vcpuCgroup", c));
            ArrayNode ids = io.putArray("ids");
            for (int i = 0; i < poolSize; i++) {
                ids.add("indep_iothread_" + i);
            }
            ObjectNode run = doc.putObject("run").put("ready", runProblems.isEmpty());
            runProblems.forEach(run.putArray("problems")::add);
            ArrayNode patterns = doc.putArray("enableAnnotations");
            AnnotationPolicy.enabledBy(config).forEach((regex, names) -> {
                ObjectNode p = patterns.addObject().put("pattern", regex);
                AnnotationPolicy.patternProblem(regex, config.runtime()).ifPresent(problem -> p.put("problem", problem));
                names.forEach(p.putArray("enables")::add);
            });
            AnnotationPolicy.notActedOn(config.annotations()).forEach(doc.putArray("annotationsNotActedOn")::add);
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
