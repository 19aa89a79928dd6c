package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** "Did you mean": the distance, the candidates, and what hvctl prints for a mistyped word (exit 2). */
class SuggestionsTest {
    private static final List<String> VM_COMMANDS = List.of("list", "status", "iothreads", "hotplug", "unplug", "move", "stop");

    @ParameterizedTest
    @CsvSource({"list, list, 0", "lst, list, 1", "lsit, list, 1", "stpo, stop, 1", "stat, stop, 2", "kitten, sitting, 3"})
    void distanceCountsEditsAndNeighbourSwapsAsOne(String a, String b, int expected) {
        assertEquals(expected, Suggestions.distance(a, b));
    }

    @Test
    void closeNamesAndPrefixesAreSuggestedClosestFirst() {
        assertEquals(List.of("list"), Suggestions.closest("lsit", VM_COMMANDS));
        assertEquals(List.of("stop", "status"), Suggestions.closest("st", VM_COMMANDS));
        assertEquals(List.of("status"), Suggestions.closest("stat", VM_COMMANDS));
        assertEquals(List.of("hotplug"), Suggestions.closest("HOTPLUG", VM_COMMANDS));
        assertEquals(List.of("--json"), Suggestions.closest("--jsno", List.of("--json", "--quiet", "-q")));
        assertEquals(List.of(), Suggestions.closest("frobnicate", VM_COMMANDS));
    }

    @Test
    void anUnknownSubcommandIsNamedWithTheClosestCommand() {
        HvctlRunner.Result r = hvctl("vm", "lst");
        assertEquals(ExitCode.USAGE, r.exit(), r::toString);
        assertEquals("hvctl: error: unknown command 'lst' for 'hvctl vm'\nhvctl: hint: did you mean list?\n", r.err());
    }

    @Test
    void anUnknownTopLevelCommandGetsASuggestionToo() {
        HvctlRunner.Result r = hvctl("pluginz");
        assertEquals(ExitCode.USAGE, r.exit(), r::toString);
        assertEquals("hvctl: error: unknown command 'pluginz' for 'hvctl'\nhvctl: hint: did you mean plugins?\n", r.err());
    }

    @Test
    void anUnknownOptionIsSuggestedTheClosestOptionOfThatCommand() {
        HvctlRunner.Result r = hvctl("vm", "list", "--jsno");
        assertEquals(ExitCode.USAGE, r.exit(), r::toString);
        assertEquals("hvctl: error: unknown option '--jsno' for 'hvctl vm list'\nhvctl: hint: did you mean --json?\n", r.err());
    }

    @Test
    void nothingCloseFallsBackToTheHelp() {
        HvctlRunner.Result r = hvctl("frobnicate");
        assertEquals(ExitCode.USAGE, r.exit(), r::toString);
        assertEquals("hvctl: error: unknown command 'frobnicate' for 'hvctl'\nhvctl: hint: see: hvctl --help\n", r.err());
    }

    @Test
    void aGroupWithoutItsCommandListsThem() {
        HvctlRunner.Result r = hvctl("vm");
        assertEquals(ExitCode.USAGE, r.exit(), r::toString);
        assertTrue(r.err().startsWith("hvctl: error: 'hvctl vm' needs a command: list, status, "), r::toString);
        assertTrue(r.err().endsWith("hvctl: hint: see: hvctl vm --help\n"), r::toString);
    }

    @Test
    void anOptionOfAnotherCommandIsUnknownHere() {
        HvctlRunner.Result r = hvctl("plugins", "--runtime-dir", "/tmp");
        assertEquals(ExitCode.USAGE, r.exit(), r::toString);
        assertTrue(r.err().startsWith("hvctl: error: unknown option '--runtime-dir' for 'hvctl plugins'\n"), r::toString);
    }

    @Test
    void aMapOptionWithoutItsEqualsSignIsNamedOnce() {
        HvctlRunner.Result r = hvctl("run", "--annotation", "x");
        assertEquals(ExitCode.USAGE, r.exit(), r::toString);
        assertEquals("hvctl: error: Value for option '--annotation' (KEY=VALUE) should be in KEY=VALUE format but"
                + " was x\nhvctl: hint: see: hvctl run --help\n", r.err());
    }

    private static HvctlRunner.Result hvctl(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Hvctl.execute(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new HvctlRunner.Result(exit, out.toString(), err.toString());
    }
}
