package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code --out} of compat and bench is made before the run: a directory that cannot be made is a
 * usage error of one line (exit 2) before anything runs, never exit 70 after the run.
 */
class ReportDirTest {
    @TempDir
    Path tmp;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"compat", "bench scale", "bench io"})
    void anOutUnderAFileIsAUsageErrorBeforeTheRun(String command) throws IOException {
        Path file = Files.writeString(tmp.resolve("afile"), "");
        Path plugins = Files.createDirectory(tmp.resolve("plugins"));
        List<String> args = new ArrayList<>(List.of(command.split(" ")));
        args.addAll(List.of("--plugins-dir", plugins.toString(), "--out", file.resolve("x").toString()));
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Hvctl.execute(new PrintWriter(out, true), new PrintWriter(err, true), args.toArray(String[]::new));
        String text = err.toString();
        assertEquals(ExitCode.USAGE, exit, text);
        List<String> errors = text.lines().filter(l -> l.startsWith("hvctl: error:")).toList();
        assertEquals(1, errors.size(), text);
        assertTrue(errors.get(0).contains("--out " + file.resolve("x")) && errors.get(0).contains("Not a directory"),
                text);
        assertFalse(text.contains("internal error") || text.contains("\tat "), text);
        assertTrue(Files.isRegularFile(file));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"compat", "bench scale"})
    void anUnwritableOutIsAUsageErrorBeforeTheRun(String command) throws IOException {
        Path dir = Files.createDirectory(tmp.resolve("ro"));
        dir.toFile().setWritable(false);
        try {
            if (Files.isWritable(dir)) {
                return; // root writes anywhere
            }
            List<String> args = new ArrayList<>(List.of(command.split(" ")));
            args.addAll(List.of("--plugins-dir", tmp.toString(), "--out", dir.toString()));
            StringWriter err = new StringWriter();
            int exit = Hvctl.execute(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true),
                    args.toArray(String[]::new));
            assertEquals(ExitCode.USAGE, exit, err.toString());
            assertTrue(err.toString().contains("--out " + dir + ": the directory is not writable"), err.toString());
        } finally {
            dir.toFile().setWritable(true);
        }
    }
}
