package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/** The help of every command, as a finished CLI's reads: checked over the whole command tree, new commands too. */
class CommandHelpTest {
    /** The command list indents summaries by 16 columns of 80: longer ones wrap mid-list. */
    static final int SUMMARY_MAX = 62;

    /** Commands that start or reach VMs, where --runtime-dir and --timeout act. */
    private static final Set<String> VM_REACHING = Set.of("run", "vm", "bench");

    private static List<CommandSpec> everyCommand() {
        List<CommandSpec> all = new ArrayList<>();
        collect(Hvctl.commandLine(), all);
        return all;
    }

    private static void collect(CommandLine cl, List<CommandSpec> all) {
        all.add(cl.getCommandSpec());
        cl.getSubcommands().forEach((name, sub) -> {
            if (name.equals(sub.getCommandName())) {
                collect(sub, all);
            }
        });
    }

    @Test
    void everySummaryIsOneShortCompleteSentence() {
        List<String> bad = new ArrayList<>();
        for (CommandSpec spec : everyCommand()) {
            String summary = ManPage.summary(spec);
            boolean oneSentence = summary.endsWith(".") && !summary.substring(0, summary.length() - 1).matches(".*[.;:] .*");
            boolean listed = spec.parent() != null; // the root's header heads its help, in no list
            if (!oneSentence || (listed && summary.length() > SUMMARY_MAX) || !Character.isUpperCase(summary.charAt(0))) {
                bad.add(spec.qualifiedName() + ": '" + summary + "' (" + summary.length() + " chars)");
            }
        }
        assertEquals(List.of(), bad, "summaries must be one sentence of at most " + SUMMARY_MAX + " characters");
    }

    @Test
    void theCommandListShowsWholeSummaries() {
        StringWriter out = new StringWriter();
        assertEquals(0, Hvctl.execute(new PrintWriter(out, true), new PrintWriter(new StringWriter()), "vm", "--help"));
        for (CommandSpec sub : ManPage.subcommands(Hvctl.commandLine().getSubcommands().get("vm").getCommandSpec())) {
            assertTrue(out.toString().lines().anyMatch(l -> l.strip().startsWith(sub.name() + " ")
                    && l.strip().endsWith(ManPage.summary(sub))), () -> sub.name() + " not on one line in:\n" + out);
        }
    }

    @Test
    void aCommandsOwnOptionsComeBeforeTheGlobalOnes() {
        StringWriter out = new StringWriter();
        assertEquals(0, Hvctl.execute(new PrintWriter(out, true), new PrintWriter(new StringWriter()), "vm", "list", "--help"));
        String help = out.toString().substring(out.toString().indexOf("\n      --json")); // the lists, not the synopsis
        int global = help.indexOf("\nGlobal options:\n");
        assertTrue(global > 0, help);
        assertTrue(help.indexOf("--quiet") < global && help.indexOf("--runtime-dir") < global, help);
        assertTrue(help.indexOf("--log-level") > global && help.indexOf("--debug") > global && help.indexOf("--help") > global, help);
    }

    @Test
    void everyHelpFitsEightyColumns() {
        List<String> wide = new ArrayList<>();
        for (CommandSpec spec : everyCommand()) {
            spec.commandLine().getUsageMessage(CommandLine.Help.Ansi.OFF).lines().filter(l -> l.length() > 80)
                    .forEach(l -> wide.add(spec.qualifiedName() + ": " + l));
        }
        assertEquals(List.of(), wide);
    }

    @Test
    void theGlobalOptionsAreListedOnce() {
        for (CommandSpec spec : everyCommand()) {
            String help = spec.commandLine().getUsageMessage(CommandLine.Help.Ansi.OFF);
            assertEquals(help.indexOf("Global options:"), help.lastIndexOf("Global options:"), help);
        }
    }

    @Test
    void runtimeDirAndTimeoutAreOnlyWhereTheyAct() {
        for (CommandSpec spec : everyCommand()) {
            String path = spec.qualifiedName();
            boolean reaches = path.split(" ").length > 1 && VM_REACHING.contains(path.split(" ")[1]) && spec.subcommands().isEmpty();
            for (String option : List.of("--runtime-dir", "--timeout")) {
                if (reaches) {
                    assertNotNull(spec.findOption(option), () -> path + " lacks " + option);
                } else {
                    assertNull(spec.findOption(option), () -> path + " shows " + option + ", which does not act on it");
                }
            }
        }
    }

    @Test
    void helpWalksTheWholeCommandPath() {
        for (List<String> path : List.<List<String>>of(List.of(), List.of("vm"), List.of("vm", "stop"), List.of("bench", "scale"),
                List.of("config", "check"))) {
            StringWriter viaHelp = new StringWriter();
            StringWriter viaOption = new StringWriter();
            List<String> help = new ArrayList<>(List.of("help"));
            help.addAll(path);
            List<String> option = new ArrayList<>(path);
            option.add("--help");
            assertEquals(0, Hvctl.execute(new PrintWriter(viaHelp, true), new PrintWriter(new StringWriter()),
                    help.toArray(String[]::new)), () -> "hvctl " + help);
            assertEquals(0, Hvctl.execute(new PrintWriter(viaOption, true), new PrintWriter(new StringWriter()),
                    option.toArray(String[]::new)), () -> "hvctl " + option);
            assertEquals(viaOption.toString(), viaHelp.toString(), () -> "hvctl " + help);
        }
    }

    @Test
    void helpOfAnUnknownSubcommandNamesItAndItsParent() {
        StringWriter err = new StringWriter();
        assertEquals(ExitCode.USAGE, Hvctl.execute(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true),
                "help", "vm", "nosuch"));
        assertTrue(err.toString().contains("Unknown subcommand 'nosuch' of 'vm'"), err::toString);
    }

    @Test
    void everyCommandTakesHelpAndOnlyTheRootTakesVersion() {
        for (CommandSpec spec : everyCommand()) {
            if (spec.userObject() instanceof HelpCommand) {
                continue;
            }
            assertNotNull(spec.findOption("--help"), spec.qualifiedName());
            assertEquals(spec.parent() == null, spec.findOption("--version") != null, spec.qualifiedName());
        }
    }

    @Test
    void everyOptionAndParameterIsDescribed() {
        for (CommandSpec spec : everyCommand()) {
            spec.args().forEach(a -> assertFalse(String.join("", a.description()).isBlank(),
                    () -> spec.qualifiedName() + " " + a + " has no description"));
        }
    }
}
