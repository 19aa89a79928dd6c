package io.hvspi.tck.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.tck.backend.QemuTckBackend;
import io.hvspi.tck.fault.FaultFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A {@code Plugin-Id} is the plugin author's text: whatever it holds, the directory the runner
 * gives the plugin's backend (which its close deletes) is a child of the work root.
 */
class WorkDirNamesTest {
    @TempDir
    Path tmp;

    @Test
    void aHostilePluginIdGetsADirectoryInsideTheWorkRoot() throws Exception {
        Path root = Files.createDirectories(tmp.resolve("root"));
        Path neighbour = Files.createDirectories(tmp.resolve("escape"));
        Files.writeString(neighbour.resolve("precious"), "keep me");
        List<Path> dirs = new CopyOnWriteArrayList<>();
        // a backend that cannot run here: the runner makes its directory, closes it, and goes on
        CompatRunner runner = new CompatRunner((factory, dir) -> {
            dirs.add(dir);
            return new QemuTckBackend(factory, tmp.resolve("no-such-qemu"), dir);
        }, root, line -> { });
        List<String> ids = List.of("../escape", "/etc", "a/../../escape", "..", ".hidden", "ok-id_1.2", "..\u0000x");
        List<PluginUnderTest> plugins = new ArrayList<>();
        for (String id : ids) {
            plugins.add(new PluginUnderTest(id, "1.0.0", new FaultFactory("fault", FaultFactory.Fault.NONE)));
        }
        CompatReport report = runner.run(plugins);
        for (Path dir : dirs) {
            assertEquals(root, dir.normalize().getParent(), () -> dir + " is not a child of the work root");
            assertFalse(dir.getFileName().toString().startsWith("."), () -> dir + " is hidden");
        }
        assertEquals(ids.size(), report.plugins().size());
        assertEquals(ids.size(), dirs.size(), "every plugin got a backend");
        assertEquals(root.resolve("ok-id_1.2"), dirs.get(5), "a plain id is its own directory name");
        assertEquals(dirs.size(), dirs.stream().distinct().count(), "two ids shared a directory");
        assertTrue(Files.exists(neighbour.resolve("precious")), "a directory beside the work root was touched");
        try (var s = Files.list(tmp)) {
            assertEquals(List.of(neighbour, root), s.sorted().toList(), "something was made beside the work root");
        }
    }

    @Test
    void aPlainIdIsKeptAndAnythingElseHashed() {
        assertEquals("memvm", CompatRunner.dirName("memvm"));
        assertEquals("Vendor.vmm-2_x", CompatRunner.dirName("Vendor.vmm-2_x"));
        for (String id : List.of("..", ".", "../x", "x/y", "/abs", ".x", "", "x".repeat(65), "sp ace")) {
            assertTrue(CompatRunner.dirName(id).matches("plugin-[0-9a-f]{16}"), () -> id + " -> " + CompatRunner.dirName(id));
        }
        assertFalse(CompatRunner.dirName("../a").equals(CompatRunner.dirName("../b")));
    }
}
