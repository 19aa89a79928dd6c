package io.hvspi.cli;

import io.hvspi.spi.HvspiException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code hvctl}: drive VMMs for container sandboxes through hvspi. */
@Command(name = "hvctl",
        // the footer (exit codes) on every command's help
        scope = CommandLine.ScopeType.INHERIT,
        versionProvider = Hvctl.Version.class,
        header = "Drive virtual machine monitors for container sandboxes through hvspi.",
        synopsisSubcommandLabel = "COMMAND",
        commandListHeading = "%nCommands:%n",
        footer = {"", ExitCode.HELP},
        subcommands = {
                PluginsCommand.class,
                CapabilitiesCommand.class,
                ConfigCommand.class,
                RunCommand.class,
                VmCommand.class,
                CompatCommand.class,
                BenchCommand.class,
                CompletionCommand.class,
                CommandLine.HelpCommand.class})
public final class Hvctl {
    // every subcommand takes --help too (commandLine() adds it), as the error hints promise; --version only acts here
    @Option(names = {"-h", "--help"}, usageHelp = true, description = HELP)
    boolean help;

    @Option(names = {"-V", "--version"}, versionHelp = true, description = "Print the version and exit.")
    boolean version;

    // both read before parsing (Logging.requested): levels must be set before the first logger exists
    @Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT,
            description = "Log at debug (third-party libraries too) and print the stack trace of any error.")
    boolean debug;

    @Option(names = "--log-level", paramLabel = "LEVEL", scope = CommandLine.ScopeType.INHERIT,
            converter = Logging.Level.class, completionCandidates = Logging.Levels.class,
            description = "off, error, warn (default), info, debug or trace; libraries other than hvspi log only"
                    + " at debug and trace.")
    String logLevel;

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
        boolean debug = Logging.stackTraces(args);
        CommandLine cli = commandLine();
        cli.setOut(out);
        cli.setErr(err);
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            report(commandLine.getErr(), e, debug);
            return ExitCode.of(e);
        });
        cli.setParameterExceptionHandler((e, args1) -> UsageErrors.report(e));
        return cli.execute(args);
    }

    /** hvctl's command tree, as the man pages and the completion script are generated from it. */
    static CommandLine commandLine() {
        CommandLine root = new CommandLine(new Hvctl());
        root.getSubcommands().values().forEach(Hvctl::addHelpOption);
        HelpLayout.apply(root);
        return root;
    }

    private static final String HELP = "Show this help and exit.";

    /** -h/--help on a command and those below it; picocli's help command has its own. */
    private static void addHelpOption(CommandLine command) {
        if (command.getCommandSpec().userObject() instanceof CommandLine.HelpCommand
                || command.getCommandSpec().findOption("--help") != null) {
            return;
        }
        command.getCommandSpec().addOption(CommandLine.Model.OptionSpec.builder("-h", "--help")
                .usageHelp(true).description(HELP).build());
        command.getSubcommands().values().forEach(Hvctl::addHelpOption);
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
