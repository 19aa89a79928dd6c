package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Commands that only read create nothing: no runtime root, no parents, no lock file for an id without a VM. */
class ReadOnlyCommandsIT {
    @TempDir
    Path tmp;

    private static int hvctl(StringWriter out, String... args) {
        return Hvctl.execute(new PrintWriter(out, true), new PrintWriter(new StringWriter(), true), args);
    }

    @Test
    void aMissingRuntimeRootListsNoVmAndIsNotMade() {
        Path root = tmp.resolve("absent").resolve("x");
        StringWriter out = new StringWriter();
        assertEquals(ExitCode.OK, hvctl(out, "vm", "list", "-q", "--runtime-dir", root.toString()));
        assertEquals("", out.toString());
        for (String command : List.of("status", "logs", "stop")) {
            hvctl(new StringWriter(), "vm", command, "ghost", "--runtime-dir", root.toString());
        }
        assertFalse(Files.exists(tmp.resolve("absent")), "nothing made by reading");
    }

    @Test
    void anIdWithoutAVmLeavesNoLockFile() throws Exception {
        Path root = Files.createDirectory(tmp.resolve("run"));
        for (String command : List.of("status", "logs", "stop", "events")) {
            int exit = hvctl(new StringWriter(), "vm", command, "ghost", "--runtime-dir", root.toString());
            assertEquals(command.equals("stop") ? ExitCode.OK : ExitCode.FAILED, exit, command);
        }
        assertFalse(Files.exists(root.resolve(".locks").resolve("ghost.lock")), "no lock file for an id without a VM");
    }
}
