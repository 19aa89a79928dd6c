package io.hvspi.cli;

import io.hvspi.spi.HvspiException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.ParameterException;

/**
 * The {@code --out} directory of {@code compat} and {@code bench}: made and checked before the run,
 * so that a directory that cannot be written costs no run (a usage error, exit 2); a write that
 * still fails afterwards is one error line (exit 1), after the results were printed on stdout.
 */
final class ReportDir {
    static final String OPTION = "--out";

    private ReportDir() {}

    /** Creates {@code dir} (and its parents) and checks it can be written into. */
    static void prepare(CommandLine cmd, Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException | SecurityException e) {
            throw new ParameterException(cmd, OPTION + " " + dir + ": cannot create the directory: " + reason(e));
        }
        if (!Files.isWritable(dir)) {
            throw new ParameterException(cmd, OPTION + " " + dir + ": the directory is not writable");
        }
    }

    /** A report's writer: the files it wrote into a directory. */
    interface Writer {
        List<Path> writeInto(Path dir) throws IOException;
    }

    /**
     * Writes the report's files into {@code dir} (after its results were printed) and names them: on
     * stdout, or as progress on stderr when stdout is the {@code --json} document.
     */
    static void write(Path dir, Writer writer, boolean json, Progress progress, PrintWriter stdout) {
        List<Path> files;
        try {
            files = writer.writeInto(dir);
        } catch (IOException | UncheckedIOException e) {
            throw writeFailed(dir, e);
        }
        String wrote = "wrote " + String.join(", ", files.stream().map(Path::toString).toList());
        if (json) {
            progress.step(wrote);
        } else {
            stdout.println(wrote);
        }
        stdout.flush();
    }

    /** What a failed write of the report into {@code dir} is: one line, exit 1. */
    static HvspiException writeFailed(Path dir, Exception e) {
        Throwable cause = e instanceof UncheckedIOException u ? u.getCause() : e;
        return new HvspiException("cannot write the report into " + dir + ": " + reason(cause), e);
    }

    private static String reason(Throwable e) {
        if (e instanceof FileSystemException fs) {
            String what = fs.getReason() != null ? fs.getReason() : fs.getClass().getSimpleName()
                    .replace("Exception", "").replaceAll("([a-z])([A-Z])", "$1 $2").toLowerCase(java.util.Locale.ROOT);
            return (fs.getFile() != null ? fs.getFile() + ": " : "") + what;
        }
        return String.valueOf(e.getMessage());
    }
}
