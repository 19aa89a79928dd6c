package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --plugins-dir that names no directory, and what capabilities prints with no plugin. */
class PluginsDirTest {
    @TempDir
    Path tmp;

    private record Result(int exit, String out, String err) {}

    private static Result hvctl(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Hvctl.execute(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Result(exit, out.toString(), err.toString());
    }

    @Test
    void aFileIsNotADirectoryAndAMissingOneDoesNotExist() throws Exception {
        Path file = Files.writeString(tmp.resolve("afile"), "");
        Result r = hvctl("plugins", "--plugins-dir", file.toString());
        assertEquals(ExitCode.OK, r.exit(), r.err());
        assertEquals("hvctl: warning: plugins directory " + file + " is not a directory; no plugins\n", r.err());
        Result missing = hvctl("plugins", "--plugins-dir", tmp.resolve("none").toString());
        assertEquals("hvctl: warning: plugins directory " + tmp.resolve("none") + " does not exist; no plugins\n",
                missing.err());
    }

    @Test
    void capabilitiesJsonHasItsTypesWithNoPlugin() throws Exception {
        Result r = hvctl("capabilities", "--json", "--plugins-dir", Files.createDirectory(tmp.resolve("p")).toString());
        assertEquals(ExitCode.OK, r.exit(), r.err());
        var doc = new ObjectMapper().readTree(r.out());
        assertTrue(doc.has("types") && doc.get("types").isArray() && doc.get("types").isEmpty(), r.out());
    }
}
