package io.hvspi.core.state;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link RuntimeDirs#deleteTree}: a tree another party removes at the same time
 * (a plugin's stop that outlived its bound, still cleaning up while the host
 * deletes the VM's directory) is gone without an error, and the walk does not
 * leave the tree through a symbolic link.
 */
class RuntimeDirsDeleteTreeTest {
    @Test
    void twoDeletionsOfOneTreeAtOnceBothSucceed(@TempDir Path tmp) throws Exception {
        for (int round = 0; round < 50; round++) {
            Path dir = tmp.resolve("vm" + round);
            for (int d = 0; d < 5; d++) {
                Path sub = Files.createDirectories(dir.resolve("d" + d).resolve("inner"));
                for (int f = 0; f < 20; f++) {
                    Files.writeString(sub.resolve("f" + f), "x");
                    Files.writeString(sub.getParent().resolve("g" + f), "x");
                }
            }
            CyclicBarrier together = new CyclicBarrier(2);
            List<Throwable> failures = new ArrayList<>();
            Thread other = Thread.ofPlatform().start(() -> {
                try {
                    together.await();
                    RuntimeDirs.deleteTree(dir);
                } catch (Throwable t) {
                    synchronized (failures) {
                        failures.add(t);
                    }
                }
            });
            together.await();
            try {
                RuntimeDirs.deleteTree(dir);
            } catch (RuntimeException e) {
                synchronized (failures) {
                    failures.add(e);
                }
            }
            other.join();
            assertEquals(List.of(), failures.stream().map(Throwable::toString).toList(), "round " + round);
            assertFalse(Files.exists(dir), "round " + round);
        }
    }

    @Test
    void aMissingTreeIsNoError(@TempDir Path tmp) {
        RuntimeDirs.deleteTree(tmp.resolve("never"));
        assertFalse(Files.exists(tmp.resolve("never")));
    }

    @Test
    void aLinkInsideIsRemovedNotFollowed(@TempDir Path tmp) throws Exception {
        Path outside = Files.writeString(Files.createDirectory(tmp.resolve("outside")).resolve("keep"), "x");
        Path dir = Files.createDirectory(tmp.resolve("vm"));
        Files.createSymbolicLink(dir.resolve("link"), outside.getParent());
        Files.createSymbolicLink(dir.resolve("file-link"), outside);
        RuntimeDirs.deleteTree(dir);
        assertFalse(Files.exists(dir));
        assertTrue(Files.exists(outside), "what a link points to stays");
    }
}
