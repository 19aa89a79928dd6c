package io.hvspi.cli;

import java.util.concurrent.Callable;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code hvctl completion bash|zsh}: the completion script picocli derives from the commands. */
@Command(name = "completion", header = "Print the shell completion script for bash or zsh.",
        description = "Load it in the current shell with: source <(hvctl completion bash)  (zsh: ... completion zsh)."
            + " The distribution ships the same script as share/bash-completion/completions/hvctl.")
final class CompletionCommand implements Callable<Integer> {
    @Parameters(paramLabel = "SHELL", completionCandidates = Shells.class, description = "bash or zsh.")
    String shell;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (!shell.equals("bash") && !shell.equals("zsh")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "SHELL must be bash or zsh, got '" + shell + "'");
        }
        spec.commandLine().getOut().print(script(spec.root().commandLine()));
        spec.commandLine().getOut().flush();
        return ExitCode.OK;
    }

    /**
     * The script for bash; zsh runs the same one through bashcompinit, which picocli's script
     * loads itself when it finds $ZSH_VERSION.
     */
    static String script(CommandLine root) {
        return AutoComplete.bash(root.getCommandName(), root);
    }

    static final class Shells implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return java.util.List.of("bash", "zsh").iterator();
        }
    }
}
