package io.hvspi.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Build step (exec-maven-plugin, prepare-package): writes the distribution's share/ from the
 * commands themselves: share/man/man1/hvctl*.1 and share/bash-completion/completions/hvctl.
 * Arguments: the share directory and the version to print in the pages.
 */
public final class DistDocs {
    private DistDocs() {}

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            throw new IllegalArgumentException("usage: DistDocs SHARE_DIR VERSION");
        }
        List<Path> written = write(Path.of(args[0]), args[1]);
        System.out.println("hvctl: wrote " + written.size() + " man pages and the completion script into " + args[0]);
    }

    static List<Path> write(Path share, String version) throws IOException {
        List<Path> written = new ArrayList<>();
        Path man1 = Files.createDirectories(share.resolve("man/man1"));
        CommandSpec root = Hvctl.commandLine().getCommandSpec();
        for (CommandSpec spec : all(root)) {
            written.add(Files.writeString(man1.resolve(ManPage.fileName(spec)), ManPage.render(spec, version)));
        }
        Path completions = Files.createDirectories(share.resolve("bash-completion/completions"));
        Files.writeString(completions.resolve("hvctl"), CompletionCommand.script(root.commandLine()));
        return written;
    }

    /** The command and all below it that get a page, depth first. */
    static List<CommandSpec> all(CommandSpec spec) {
        List<CommandSpec> all = new ArrayList<>(List.of(spec));
        ManPage.subcommands(spec).forEach(sub -> all.addAll(all(sub)));
        return all;
    }
}
