package io.hvspi.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Help;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code hvctl help [COMMAND...]}: the help of a command at any depth ({@code help vm stop}).
 * picocli's own help command reads only the first name, so {@code help vm stop} showed vm's help.
 */
@Command(name = "help", helpCommand = true, header = "Show the help of a command, at any depth.",
        description = "hvctl help vm stop shows what hvctl vm stop --help shows; without a command, hvctl's help.")
final class HelpCommand implements CommandLine.IHelpCommandInitializable2, Runnable {

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help and exit.")
    boolean helpRequested;

    @Parameters(paramLabel = "COMMAND", arity = "0..*", description = "The command, and its subcommands, to show the help of.")
    List<String> path = new ArrayList<>();

    private CommandLine self;
    private Help.ColorScheme colors;
    private PrintWriter out;

    @Override
    public void init(CommandLine helpCommandLine, Help.ColorScheme colorScheme, PrintWriter out, PrintWriter err) {
        this.self = helpCommandLine;
        this.colors = colorScheme;
        this.out = out;
    }

    @Override
    public void run() {
        CommandLine command = self.getParent();
        for (String name : path) {
            CommandLine sub = command.getSubcommands().get(name);
            if (sub == null) {
                throw new CommandLine.ParameterException(command, "Unknown subcommand '" + name + "' of '"
                        + command.getCommandName() + "'.", null, name);
            }
            command = sub;
        }
        command.usage(out, colors);
        out.flush();
    }
}
