package io.hvspi.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * Bad command lines: one error line that names the word and the command, then one hint,
 * "did you mean" when a name is close (as kubectl and git do), else where the help is. Exit 2.
 */
final class UsageErrors {
    private UsageErrors() {}

    static int report(ParameterException e) {
        CommandLine cmd = e.getCommandLine();
        CommandSpec spec = cmd.getCommandSpec();
        PrintWriter err = cmd.getErr();
        String where = spec.qualifiedName();
        String hint = "see: " + where + " --help";
        if (e instanceof UnmatchedArgumentException u && !u.getUnmatched().isEmpty()) {
            String word = u.getUnmatched().get(0);
            if (word.startsWith("-")) {
                String name = word.contains("=") ? word.substring(0, word.indexOf('=')) : word;
                err.println("hvctl: error: unknown option '" + name + "' for '" + where + "'");
                hint = didYouMean(Suggestions.closest(name, optionNames(spec))).orElse(hint);
            } else if (!cmd.getSubcommands().isEmpty()) {
                err.println("hvctl: error: unknown command '" + word + "' for '" + where + "'");
                hint = didYouMean(Suggestions.closest(word, visibleSubcommands(cmd))).orElse(hint);
            } else {
                err.println("hvctl: error: unexpected argument '" + word + "' for '" + where + "'");
            }
        } else if (!cmd.getSubcommands().isEmpty() && String.valueOf(e.getMessage()).contains("Missing required subcommand")) {
            err.println("hvctl: error: '" + where + "' needs a command: " + String.join(", ", visibleSubcommands(cmd)));
        } else {
            // picocli 4.7 says "Value for option option '--annotation' ..." of a map option's entry without '='
            err.println("hvctl: error: " + String.valueOf(e.getMessage()).replace("option option '", "option '"));
        }
        err.println("hvctl: hint: " + hint);
        err.flush();
        return ExitCode.USAGE;
    }

    private static java.util.Optional<String> didYouMean(List<String> names) {
        if (names.isEmpty()) {
            return java.util.Optional.empty();
        }
        return java.util.Optional.of("did you mean " + String.join(" or ", names.subList(0, Math.min(3, names.size()))) + "?");
    }

    static List<String> visibleSubcommands(CommandLine cmd) {
        List<String> names = new ArrayList<>();
        cmd.getSubcommands().forEach((name, sub) -> {
            if (!sub.getCommandSpec().usageMessage().hidden() && name.equals(sub.getCommandName())) {
                names.add(name);
            }
        });
        return names;
    }

    private static List<String> optionNames(CommandSpec spec) {
        List<String> names = new ArrayList<>();
        for (OptionSpec o : spec.options()) {
            if (!o.hidden()) {
                names.addAll(List.of(o.names()));
            }
        }
        return names;
    }
}
