package io.hvspi.cli;

import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Help;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * A subcommand's help lists its own options first and the flags every command takes
 * (--help, --debug, --log-level) after them, under "Global options:", as kubectl
 * keeps its global flags apart: what the command does is then read first.
 */
final class HelpLayout {
    static final String GLOBAL_OPTION_LIST = "globalOptionList";

    private HelpLayout() {}

    /** Inherited from hvctl itself, or the --help every command gets; on hvctl itself all are its own. */
    static boolean isGlobal(CommandSpec spec, OptionSpec option) {
        return spec.parent() != null && (option.inherited() || option.usageHelp());
    }

    static void apply(CommandLine command) {
        if (command.getCommandSpec().parent() != null) {
            command.getHelpSectionMap().put(CommandLine.Model.UsageMessageSpec.SECTION_KEY_OPTION_LIST, help -> list(help, false));
            command.getHelpSectionMap().put(GLOBAL_OPTION_LIST, help -> list(help, true));
            List<String> keys = new ArrayList<>(command.getHelpSectionKeys());
            keys.remove(GLOBAL_OPTION_LIST); // subcommands may start from their parent's keys (the root's INHERIT scope)
            keys.add(keys.indexOf(CommandLine.Model.UsageMessageSpec.SECTION_KEY_OPTION_LIST) + 1, GLOBAL_OPTION_LIST);
            command.setHelpSectionKeys(keys);
        }
        command.getSubcommands().values().forEach(HelpLayout::apply);
    }

    private static String list(Help help, boolean global) {
        CommandSpec spec = help.commandSpec();
        List<OptionSpec> options = spec.options().stream().filter(o -> !o.hidden() && isGlobal(spec, o) == global).toList();
        if (options.isEmpty()) {
            return "";
        }
        return (global ? String.format("%nGlobal options:%n") : "") + help.optionListExcludingGroups(options);
    }
}
