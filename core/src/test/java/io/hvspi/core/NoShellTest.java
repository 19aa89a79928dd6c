package io.hvspi.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Nothing in hvspi starts a process through a shell: every process is a
 * {@code ProcessBuilder} over a list of arguments, so no value from a
 * configuration, an annotation or a device request is ever parsed by
 * {@code sh}. This scans the main sources of every module, plugins included,
 * for the forms that would break that, with comments removed.
 */
class NoShellTest {

    /** The forbidden forms, each with what it is. */
    static final Map<String, Pattern> FORBIDDEN = Map.of(
            "a shell given a command string (\"sh\", \"-c\")", Pattern.compile(
                    "(\"(/usr)?(/bin/)?(ba|da|z|k|c|tc|fi|a)?sh\"|\\b\\w*[sS]hell\\w*\\b)\\s*,\\s*\"-c\""),
            "a command line with a shell and -c in one string", Pattern.compile(
                    "\"\\s*(/usr)?(/bin/)?(ba|da|z|k|c|tc|fi|a)?sh\\s+(-\\w*\\s+)*-c\\b"),
            "Runtime.exec (its one-string form splits on spaces, and ProcessBuilder does all it does)",
            Pattern.compile("(getRuntime\\s*\\(\\s*\\)\\s*\\.\\s*exec\\s*\\(|Runtime\\s*::\\s*exec\\b)"),
            "a command line split on spaces for ProcessBuilder", Pattern.compile(
                    "new\\s+ProcessBuilder\\s*\\([^;]*\\.split\\s*\\("));

    @Test
    void noMainSourceStartsAProcessThroughAShell() throws IOException {
        Path root = projectRoot();
        List<Path> sources = mainSources(root);
        assertTrue(sources.size() > 50, () -> "found only " + sources.size() + " main sources under " + root);
        assertTrue(sources.stream().anyMatch(p -> p.startsWith(root.resolve("plugins"))), "plugins are scanned");
        List<String> findings = new ArrayList<>();
        for (Path file : sources) {
            for (String f : scan(Files.readString(file))) {
                findings.add(root.relativize(file) + ":" + f);
            }
        }
        assertEquals(List.of(), findings);
    }

    /** The scan itself must see each forbidden form, or the test above proves nothing. */
    @ParameterizedTest
    @ValueSource(strings = {
            "new ProcessBuilder(\"sh\", \"-c\", cmd).start();",
            "new ProcessBuilder(List.of(\"/bin/bash\", \"-c\", \"qemu \" + args));",
            "List<String> argv = List.of(shell, \"-c\", line);",
            "pb.command(\"/usr/bin/sh\" , \"-c\", s);",
            "String cmd = \"sh -c 'qemu-img create \" + file + \"'\";",
            "run(\"/bin/bash -e -c true\");",
            "Runtime.getRuntime().exec(\"qemu-system-x86_64 -S\");",
            "Runtime.getRuntime().exec(new String[] {\"qemu\"});",
            "Runtime r = Runtime.getRuntime(); Stream.of(c).map(Runtime::exec);",
            "new ProcessBuilder(command.split(\" \")).start();",
    })
    void theScanFindsEachForbiddenForm(String code) {
        assertEquals(1, scan(code).size(), () -> "missed: " + code);
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "new ProcessBuilder(List.of(binary.toString(), \"--version\")).start();",
            "List<String> command = new ArrayList<>(List.of(\"bash\", script.toString()));",
            "// never new ProcessBuilder(\"sh\", \"-c\", cmd), always a list",
            "/* Runtime.getRuntime().exec(String) splits on spaces */ int x = 1;",
            "args.add(\"-chardev\"); args.add(\"socket,id=qmp\");",
            "String doc = \"see: bash(1)\";",
    })
    void theScanLeavesArgumentListsAndCommentsAlone(String code) {
        assertEquals(List.of(), scan(code));
    }

    /** {@code line: form} for each forbidden form in {@code source}. */
    static List<String> scan(String source) {
        String code = withoutComments(source);
        List<String> findings = new ArrayList<>();
        FORBIDDEN.forEach((what, pattern) -> {
            Matcher m = pattern.matcher(code);
            while (m.find()) {
                long line = code.substring(0, m.start()).chars().filter(c -> c == '\n').count() + 1;
                findings.add(line + ": " + what + ": " + m.group().strip());
            }
        });
        return findings;
    }

    /** {@code source} with comments blanked (newlines kept); string, text block and char literals kept. */
    static String withoutComments(String source) {
        StringBuilder out = new StringBuilder(source.length());
        int i = 0;
        int n = source.length();
        while (i < n) {
            char c = source.charAt(i);
            if (source.startsWith("//", i)) {
                while (i < n && source.charAt(i) != '\n') {
                    i++;
                }
            } else if (source.startsWith("/*", i)) {
                int end = source.indexOf("*/", i + 2);
                end = end < 0 ? n : end + 2;
                source.substring(i, end).chars().filter(ch -> ch == '\n').forEach(ch -> out.append('\n'));
                i = end;
            } else if (source.startsWith("\"\"\"", i)) {
                int end = source.indexOf("\"\"\"", i + 3);
                end = end < 0 ? n : end + 3;
                out.append(source, i, end);
                i = end;
            } else if (c == '"' || c == '\'') {
                int j = i + 1;
                while (j < n && source.charAt(j) != c && source.charAt(j) != '\n') {
                    j += source.charAt(j) == '\\' ? 2 : 1;
                }
                j = Math.min(j + 1, n);
                out.append(source, i, j);
                i = j;
            } else {
                out.append(c);
                i++;
            }
        }
        return out.toString();
    }

    /** Every {@code src/main/java} tree of the project, found from the root the build gives. */
    static List<Path> mainSources(Path root) throws IOException {
        try (Stream<Path> files = Files.walk(root)) {
            return files.filter(p -> p.toString().endsWith(".java"))
                    .filter(p -> root.relativize(p).toString().contains("src/main/java/"))
                    .filter(p -> !root.relativize(p).toString().contains("target/"))
                    .sorted().toList();
        }
    }

    /** {@code hvspi.projectRoot} (surefire sets it), or the nearest parent that holds the spi and core modules. */
    static Path projectRoot() {
        Path start = Path.of(System.getProperty("hvspi.projectRoot", System.getProperty("user.dir"))).toAbsolutePath();
        for (Path p = start; p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("spi/pom.xml")) && Files.isRegularFile(p.resolve("core/pom.xml"))) {
                return p;
            }
        }
        throw new AssertionError("no project root (with spi/ and core/) at or above " + start);
    }
}
