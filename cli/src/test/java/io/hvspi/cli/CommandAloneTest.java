package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * A command line that names a command runs on a model of that command alone (cheaper to build);
 * what it prints and exits with must be what the whole tree answers.
 */
class CommandAloneTest {

    @Test
    void theCommandsAloneAreTheTreesCommandsButCompletionAndHelp() {
        Set<String> tree = new HashSet<>(Hvctl.commandLine().getSubcommands().keySet());
        assertEquals(Set.of("plugins", "capabilities", "config", "run", "vm", "compat", "bench", "completion", "help"), tree);
        tree.removeAll(Set.of("completion", "help"));
        assertEquals(tree, Hvctl.Tree.ALONE.keySet());
        Hvctl.Tree.ALONE.forEach((name, type) -> {
            assertEquals(Set.of(name), Hvctl.commandLine(List.of(type)).getSubcommands().keySet(),
                    type + " is filed under another name");
            assertEquals(type, Hvctl.commandLine().getSubcommands().get(name).getCommandSpec().userObject().getClass());
        });
    }

    @Test
    void theFirstWordAfterHvctlsOwnOptionsPicksTheCommand() {
        assertEquals(PluginsCommand.class, Hvctl.commandAlone("plugins"));
        assertEquals(PluginsCommand.class, Hvctl.commandAlone("--debug", "plugins", "--json"));
        assertEquals(VmCommand.class, Hvctl.commandAlone("--log-level", "info", "vm", "list"));
        assertEquals(ConfigCommand.class, Hvctl.commandAlone("--log-level=trace", "config", "check", "x"));
        assertNull(Hvctl.commandAlone());
        assertNull(Hvctl.commandAlone("--log-level", "plugins")); // plugins is the level here, not a command
        assertNull(Hvctl.commandAlone("--log-level"));
        assertNull(Hvctl.commandAlone("plugin")); // a misspelling: the whole tree suggests
        assertNull(Hvctl.commandAlone("help", "plugins"));
        assertNull(Hvctl.commandAlone("completion", "bash"));
        assertNull(Hvctl.commandAlone("-h", "plugins"));
        assertNull(Hvctl.commandAlone("--version"));
        assertNull(Hvctl.commandAlone("--bogus", "plugins"));
    }

    /** Help, usage errors and plain runs that start nothing: each command's and each subcommand's. */
    private static List<String[]> commandLines() {
        List<String[]> lines = new ArrayList<>();
        for (var e : Hvctl.commandLine().getSubcommands().entrySet()) {
            String name = e.getKey();
            if (!Hvctl.Tree.ALONE.containsKey(name)) {
                continue;
            }
            lines.add(new String[] {name, "--help"});
            lines.add(new String[] {name, "-h"});
            lines.add(new String[] {"--debug", name, "--no-such-option"});
            lines.add(new String[] {name, "--no-such-optio=1"});
            lines.add(new String[] {"--log-level", "bogus", name});
            e.getValue().getSubcommands().forEach((sub, cl) -> {
                lines.add(new String[] {name, sub, "--help"});
                lines.add(new String[] {name, sub, "--no-such-option"});
            });
            if (!e.getValue().getSubcommands().isEmpty()) {
                lines.add(new String[] {name});
                lines.add(new String[] {name, "lsit"});
                lines.add(new String[] {name, "--help", "--help"});
            }
        }
        lines.add(new String[] {"plugins", "--plugins-dir", "/nonexistent/hvspi-plugins"});
        lines.add(new String[] {"plugins", "--plugins-dir", "/nonexistent/hvspi-plugins", "--json"});
        lines.add(new String[] {"--log-level=error", "capabilities", "--plugins-dir", "/nonexistent/hvspi-plugins"});
        lines.add(new String[] {"plugins", "stray"});
        lines.add(new String[] {"config", "check"});
        lines.add(new String[] {"config", "check", "/nonexistent/configuration.toml"});
        lines.add(new String[] {"run", "--policy", "bogus", "--plugins-dir", "/nonexistent/hvspi-plugins"});
        lines.add(new String[] {"vm", "status"});
        lines.add(new String[] {"bench", "io", "--runtime", "0"});
        return lines;
    }

    @Test
    void aCommandAloneAnswersAsTheWholeTree() {
        List<String[]> lines = commandLines();
        List<String> differ = new ArrayList<>();
        for (String[] args : lines) {
            String alone = run(false, args);
            String whole = run(true, args);
            if (!alone.equals(whole)) {
                differ.add(String.join(" ", args) + "\n--- alone\n" + alone + "--- whole tree\n" + whole);
            }
        }
        assertEquals(List.of(), differ);
        // and the lines did reach the fast path: each names a command alone
        for (String[] args : lines) {
            assertNotNull(Hvctl.commandAlone(args), String.join(" ", args));
        }
    }

    private static String run(boolean wholeTree, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        PrintWriter o = new PrintWriter(out, true);
        PrintWriter e = new PrintWriter(err, true);
        int exit = wholeTree ? Hvctl.executeOnWholeTree(o, e, args) : Hvctl.execute(o, e, args);
        return "exit " + exit + "\n" + out + "--- stderr\n" + err;
    }

    @Test
    void theModelAloneHasOneCommand() {
        CommandLine alone = Hvctl.commandLine(List.of(PluginsCommand.class));
        assertEquals(Set.of("plugins"), alone.getSubcommands().keySet());
    }
}
