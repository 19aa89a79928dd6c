package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import picocli.CommandLine.Model.CommandSpec;

/** The distribution's share/: a man page per command and the completion script, as built and as printed. */
class DistDocsIT {
    private static final Path SHARE = HvctlRunner.home().resolve("share");
    private static final Path MAN1 = SHARE.resolve("man/man1");
    private static final Path BASH = SHARE.resolve("bash-completion/completions/hvctl");

    @Test
    void everyCommandHasAManPageAndNoPageIsStale() throws Exception {
        TreeSet<String> expected = new TreeSet<>();
        DistDocs.all(Hvctl.commandLine().getCommandSpec()).forEach(s -> expected.add(ManPage.fileName(s)));
        TreeSet<String> shipped = new TreeSet<>();
        try (Stream<Path> pages = Files.list(MAN1)) {
            pages.forEach(p -> shipped.add(p.getFileName().toString()));
        }
        assertEquals(expected, shipped);
        assertTrue(shipped.containsAll(List.of("hvctl.1", "hvctl-vm-stop.1", "hvctl-completion.1")), shipped::toString);
    }

    @Test
    void eachPageHasTheHeaderNameAndSectionsManExpects() throws Exception {
        for (CommandSpec spec : DistDocs.all(Hvctl.commandLine().getCommandSpec())) {
            String page = Files.readString(MAN1.resolve(ManPage.fileName(spec)));
            List<String> lines = page.lines().filter(l -> !l.startsWith(".\\\"")).toList();
            String name = ManPage.pageName(spec);
            assertEquals(".TH \"" + name.toUpperCase(java.util.Locale.ROOT) + "\" \"1\" \"\" \"hvctl 1.0.0\" \"hvctl manual\"",
                    lines.get(0), name);
            assertEquals(".SH NAME", lines.get(1), name);
            assertEquals(ManPage.escape(name) + " \\- " + ManPage.escape(ManPage.summary(spec)), lines.get(2), name);
            String options = spec.parent() == null ? ".SH OPTIONS" : ".SH GLOBAL OPTIONS";
            for (String section : List.of(".SH SYNOPSIS", ".SH DESCRIPTION", options, ".SH EXIT STATUS")) {
                assertTrue(lines.contains(section), () -> name + " lacks " + section + ":\n" + page);
            }
        }
        String stop = Files.readString(MAN1.resolve("hvctl-vm-stop.1"));
        assertTrue(stop.contains(".SH ARGUMENTS\n.TP\n\\fIVM\\fR\n"), stop);
        assertTrue(stop.contains("\\fB\\-\\-runtime\\-dir\\fR \\fIDIR\\fR\n"), stop);
        assertTrue(stop.indexOf(".TP\n\\fB\\-\\-runtime\\-dir") < stop.indexOf(".SH GLOBAL OPTIONS")
                && stop.indexOf(".SH GLOBAL OPTIONS") < stop.indexOf(".TP\n\\fB\\-\\-log\\-level"), stop);
        assertTrue(Files.readString(MAN1.resolve("hvctl.1")).contains("\\fBhvctl\\-vm\\fR(1)"), "the root page lists the others");
    }

    @Test
    void manRendersThePagesWithoutWarnings() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/man")), "man is not installed");
        for (String page : List.of("hvctl.1", "hvctl-vm-list.1", "hvctl-run.1")) {
            Result r = exec(List.of("man", "--warnings", "-l", MAN1.resolve(page).toString()), "MANWIDTH=80", "MANPAGER=cat", "LC_ALL=C.UTF-8");
            assertEquals(0, r.exit(), r::toString);
            assertEquals("", r.err(), r::toString);
            assertTrue(r.out().contains("SYNOPSIS"), r::toString);
        }
        Result list = exec(List.of("man", "-l", MAN1.resolve("hvctl-vm-list.1").toString()), "MANWIDTH=80", "MANPAGER=cat");
        assertTrue(list.out().contains("-q, --quiet"), list::toString);
    }

    @Test
    void theCompletionScriptParsesAndCompletesSubcommands() throws Exception {
        assertEquals(0, exec(List.of("bash", "-n", BASH.toString())).exit());
        String complete = ". '" + BASH + "'; COMP_WORDS=(hvctl vm st); COMP_CWORD=2; COMP_LINE='hvctl vm st'; COMP_POINT=11;"
                + " _complete_hvctl; printf '%s\\n' \"${COMPREPLY[@]}\"";
        Result r = exec(List.of("bash", "-c", complete));
        assertEquals(0, r.exit(), r::toString);
        assertEquals(List.of("status", "stop"), r.out().lines().map(String::strip).sorted().toList(), r::toString);
    }

    @Test
    void zshLoadsTheSameScript() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/zsh")), "zsh is not installed");
        assertEquals(0, exec(List.of("zsh", "-n", BASH.toString())).exit());
    }

    @Test
    void completionPrintsTheShippedScript() throws Exception {
        HvctlRunner.Result bash = HvctlProcess.run("completion", "bash");
        assertEquals(0, bash.exit(), bash::toString);
        assertEquals(Files.readString(BASH), bash.out());
        HvctlRunner.Result zsh = HvctlProcess.run("completion", "zsh");
        assertEquals(bash.out(), zsh.out(), "picocli's script loads bashcompinit itself under zsh");
        HvctlRunner.Result fish = HvctlProcess.run("completion", "fish");
        assertEquals(ExitCode.USAGE, fish.exit(), fish::toString);
        assertTrue(fish.err().startsWith("hvctl: error: SHELL must be bash or zsh, got 'fish'\n"), fish::toString);
    }

    record Result(int exit, String out, String err) {}

    private static Result exec(List<String> command, String... env) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(command));
        for (String e : env) {
            pb.environment().put(e.substring(0, e.indexOf('=')), e.substring(e.indexOf('=') + 1));
        }
        Process p = pb.start();
        p.getOutputStream().close();
        var err = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), command::toString);
        return new Result(p.exitValue(), out, err.get());
    }
}
