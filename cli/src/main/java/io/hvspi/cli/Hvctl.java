package io.hvspi.cli;

import io.hvspi.spi.HvspiException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code hvctl}: drive VMMs for container sandboxes through hvspi. */
@Command(name = "hvctl",
        mixinStandardHelpOptions = true,
        // every subcommand takes --help too, as the error hints promise
        scope = CommandLine.ScopeType.INHERIT,
        versionProvider = Hvctl.Version.class,
        description = "Drive virtual machine monitors for container sandboxes through hvspi.",
        footer = {"", ExitCode.HELP},
        subcommands = {
                PluginsCommand.class,
                CapabilitiesCommand.class,
                ConfigCommand.class,
                RunCommand.class,
                VmCommand.class,
                CompatCommand.class,
                BenchCommand.class,
                CommandLine.HelpCommand.class})
public final class Hvctl {
    // read before parsing (DebugMode.requested): logging must be set up before the first logger exists
    @Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT,
            description = "Print the stack trace of any error, and log hvspi at DEBUG and pf4j at INFO.")
    boolean debug;

    public static void main(String[] args) {
        VmTaggedLogs.install(); // before the first logger: lines about a VM carry its id
        if (DebugMode.requested(args)) {
            // here, not in execute(): system properties outlive the call, and tests run hvctl in one JVM
            DebugMode.enableLogging();
        }
        System.exit(execute(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args));
    }

    /** Runs hvctl with the given streams and returns the exit code (tests call this). */
    public static int execute(PrintWriter out, PrintWriter err, String... args) {
        boolean debug = DebugMode.requested(args);
        CommandLine cli = new CommandLine(new Hvctl());
        cli.setOut(out);
        cli.setErr(err);
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            report(commandLine.getErr(), e, debug);
            return ExitCode.of(e);
        });
        cli.setParameterExceptionHandler((e, args1) -> {
            CommandLine cmd = e.getCommandLine();
            cmd.getErr().println("hvctl: error: " + e.getMessage());
            cmd.getErr().println("hvctl: hint: see: " + cmd.getCommandSpec().qualifiedName() + " --help");
            return ExitCode.USAGE;
        });
        return cli.execute(args);
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
            return new String[] {"hvctl " + Hvctl.class.getPackage().getImplementationVersion()
                    + " (SPI " + io.hvspi.spi.SpiVersion.CURRENT + ")"};
        }
    }
}
