package io.hvspi.cli;

import io.hvspi.spi.HvspiException;
import java.io.PrintWriter;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ScopeType;

/**
 * {@code hvctl}: drive VMMs for container sandboxes through hvspi.
 *
 * <p>hvctl itself and {@code plugins} have models built in code with picocli's programmatic API;
 * the other commands are annotated classes. Reading annotations costs a start more than the
 * reflection around them: the JDK makes a proxy class for each annotation type it reads, and its
 * AOT cache holds no proxy classes, so the annotated root and {@code plugins} cost every
 * {@code hvctl plugins} seven of them (0.08 s of CPU of 0.4 s on a slow host). Those two are the
 * commands a start is measured on (docs/performance.md); the others do more than start.
 */
public final class Hvctl {
    private Hvctl() {}

    public static void main(String[] args) {
        if (args.length == 1 && (args[0].equals("--version") || args[0].equals("-V"))) {
            // answered before picocli builds its model of every command (most of a JVM start's cost)
            System.out.println(Version.line());
            return;
        }
        VmTaggedLogs.install(); // before the first logger: lines about a VM carry its id
        String level = Logging.requested(args);
        if (level != null) {
            // here, not in execute(): system properties outlive the call, and tests run hvctl in one JVM
            Logging.configure(level);
        }
        System.exit(execute(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args));
    }

    /** Runs hvctl with the given streams and returns the exit code (tests call this). */
    public static int execute(PrintWriter out, PrintWriter err, String... args) {
        Class<?> alone = commandAlone(args);
        return execute(alone != null ? commandLine(List.of(alone)) : commandLine(), out, err, args);
    }

    /** As {@link #execute(PrintWriter, PrintWriter, String...)}, always on the whole tree (tests compare the two). */
    static int executeOnWholeTree(PrintWriter out, PrintWriter err, String... args) {
        return execute(commandLine(), out, err, args);
    }

    private static int execute(CommandLine cli, PrintWriter out, PrintWriter err, String... args) {
        boolean debug = Logging.stackTraces(args);
        cli.setOut(out);
        cli.setErr(err);
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            report(commandLine.getErr(), e, debug);
            return ExitCode.of(e);
        });
        cli.setParameterExceptionHandler((e, args1) -> UsageErrors.report(e));
        try {
            return cli.execute(args);
        } catch (Error e) {
            // picocli hands its handler Exceptions only; an Error (out of memory) is still reported as ours
            report(err, e, debug);
            return ExitCode.INTERNAL;
        }
    }

    /** hvctl's command tree, as the man pages and the completion script are generated from it. */
    static CommandLine commandLine() {
        return commandLine(Tree.COMMANDS);
    }

    /**
     * hvctl with only the given commands under it. picocli builds the model of every command it is
     * given, by reflection over its options, converters and subcommands: for all of hvctl's that is
     * most of a command's start, and a command line that names one command needs only that one.
     */
    static CommandLine commandLine(List<Class<?>> commands) {
        CommandLine root = new CommandLine(rootSpec());
        // plugins' model is built in code (see the class comment); the others picocli reads from their annotations
        commands.forEach(c -> root.addSubcommand(c == PluginsCommand.class ? PluginsCommand.spec() : c));
        root.getSubcommands().values().forEach(Hvctl::addHelpOption);
        HelpLayout.apply(root);
        return root;
    }

    /**
     * The command the arguments run when a model of it alone answers exactly as the whole tree
     * would, else null: the first word after hvctl's own --debug and --log-level names one of
     * {@link Tree#ALONE}. Anything else (no command, a misspelt one, -h, -V, an option hvctl does not
     * have) goes to the whole tree, whose help, suggestions and errors name every command.
     */
    static Class<?> commandAlone(String... args) {
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("--debug") || arg.startsWith("--log-level=")) {
                continue;
            }
            if (arg.equals("--log-level")) {
                i++; // its value, whatever it is (picocli judges it)
                continue;
            }
            return Tree.ALONE.get(arg);
        }
        return null;
    }

    private static final String HELP = "Show this help and exit.";

    /** hvctl itself: its options, the exit codes on every command's help, and its version. */
    private static CommandSpec rootSpec() {
        CommandSpec spec = CommandSpec.create().name("hvctl")
                .scopeType(ScopeType.INHERIT) // the footer (exit codes) on every command's help
                .versionProvider(new Version());
        spec.usageMessage()
                .header("Drive virtual machine monitors for container sandboxes through hvspi.")
                .synopsisSubcommandLabel("COMMAND")
                .commandListHeading("%nCommands:%n")
                .footer("", ExitCode.HELP);
        // every subcommand takes --help too (commandLine() adds it), as the error hints promise; --version only acts here
        spec.addOption(OptionSpec.builder("-h", "--help").usageHelp(true).description(HELP).build());
        spec.addOption(OptionSpec.builder("-V", "--version").versionHelp(true)
                .description("Print the version and exit.").build());
        // both read before parsing (Logging.requested): levels must be set before the first logger exists
        spec.addOption(OptionSpec.builder("--debug").scopeType(ScopeType.INHERIT)
                .description("Log at debug (third-party libraries too) and print the stack trace of any error.").build());
        spec.addOption(OptionSpec.builder("--log-level").type(String.class).paramLabel("LEVEL")
                .scopeType(ScopeType.INHERIT).converters(new Logging.Level()).completionCandidates(new Logging.Levels())
                .description("off, error, warn (default), info, debug or trace; libraries other than hvspi log only"
                        + " at debug and trace.").build());
        return spec;
    }

    /** -h/--help on a command and those below it; the help command has its own. */
    private static void addHelpOption(CommandLine command) {
        if (command.getCommandSpec().userObject() instanceof HelpCommand
                || command.getCommandSpec().findOption("--help") != null) {
            return;
        }
        command.getCommandSpec().addOption(OptionSpec.builder("-h", "--help")
                .usageHelp(true).description(HELP).build());
        command.getSubcommands().values().forEach(Hvctl::addHelpOption);
    }

    /** The command tree's classes: a class of its own, so that --version loads none of them. */
    static final class Tree {
        private Tree() {}

        /** hvctl's commands, in the order its help lists them. */
        static final List<Class<?>> COMMANDS = List.of(
                PluginsCommand.class,
                CapabilitiesCommand.class,
                ConfigCommand.class,
                RunCommand.class,
                VmCommand.class,
                CompatCommand.class,
                BenchCommand.class,
                CompletionCommand.class,
                HelpCommand.class);

        /**
         * The commands that may run with a model of themselves alone (their {@code @Command} names; a test
         * checks them against the classes). Not {@code completion} (its script covers every command) nor
         * {@code help} (it reads its siblings).
         */
        static final Map<String, Class<?>> ALONE = Map.of(
                "plugins", PluginsCommand.class,
                "capabilities", CapabilitiesCommand.class,
                "config", ConfigCommand.class,
                "run", RunCommand.class,
                "vm", VmCommand.class,
                "compat", CompatCommand.class,
                "bench", BenchCommand.class);
    }

    static void report(PrintWriter err, Throwable e, boolean debug) {
        if (e instanceof HvspiException) {
            err.println("hvctl: error: " + e.getMessage());
            if (debug) {
                e.printStackTrace(err);
            }
        } else {
            err.println("hvctl: internal error: " + e);
            e.printStackTrace(err);
        }
        VmmLogTail.print(err, e);
        String hint = ExitCode.hint(e);
        if (hint != null) {
            err.println("hvctl: hint: " + hint);
        }
        err.flush();
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {line()};
        }

        static String line() {
            return "hvctl " + Hvctl.class.getPackage().getImplementationVersion()
                    + " (SPI " + io.hvspi.spi.SpiVersion.CURRENT + ")";
        }
    }
}
