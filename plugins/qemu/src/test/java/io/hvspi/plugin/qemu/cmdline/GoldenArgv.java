package io.hvspi.plugin.qemu.cmdline;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Golden argument lists under {@code src/test/resources/golden/}: one argument per
 * line. Run with {@code -Dhvspi.golden.update=true} to rewrite them after an
 * intended change, then review the diff.
 */
public final class GoldenArgv {
    private GoldenArgv() {}

    public static void assertMatches(String name, List<String> argv) {
        String actual = String.join("\n", argv) + "\n";
        if (Boolean.getBoolean("hvspi.golden.update")) {
            try {
                Path file = Path.of("src/test/resources/golden", name + ".argv");
                Files.createDirectories(file.getParent());
                Files.writeString(file, actual, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return;
        }
        try (InputStream in = GoldenArgv.class.getResourceAsStream("/golden/" + name + ".argv")) {
            if (in == null) {
                throw new AssertionError("no golden file golden/" + name + ".argv; run with -Dhvspi.golden.update=true");
            }
            assertEquals(new String(in.readAllBytes(), StandardCharsets.UTF_8), actual, "argv of " + name);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
