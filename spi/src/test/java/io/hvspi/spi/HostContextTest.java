package io.hvspi.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CyclicBarrier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The default {@link HostContext#removeRuntimeDir}, which hosts written against SPI 1.0 get. */
class HostContextTest {
    @TempDir
    Path root;

    private final HostContext host = new HostContext() {
        @Override
        public Path runtimeRoot() {
            return root;
        }

        @Override
        public Path createRuntimeDir(String vmId) {
            throw new UnsupportedOperationException();
        }

        @Override
        public VmStateStore stateStore() {
            throw new UnsupportedOperationException();
        }

        @Override
        public Duration commandTimeout() {
            return Duration.ofSeconds(1);
        }

        @Override
        public Optional<String> option(String key) {
            return Optional.empty();
        }
    };

    @Test
    void removesTheTreeWithoutFollowingLinksOutOfIt() throws Exception {
        Path outside = Files.createDirectories(root.resolve("outside"));
        Files.writeString(outside.resolve("keep"), "x");
        Path dir = Files.createDirectories(root.resolve("vm1/sub"));
        Files.writeString(dir.resolve("qmp.log"), "x");
        Files.createSymbolicLink(root.resolve("vm1/link"), outside);
        host.removeRuntimeDir("vm1");
        assertFalse(Files.exists(root.resolve("vm1")));
        assertTrue(Files.exists(outside.resolve("keep")), "a link's target is not removed");
        host.removeRuntimeDir("vm1"); // already gone: nothing to do
    }

    /** A stop that outlived its bound may still be removing the tree while the host does. */
    @Test
    void twoRemovalsOfOneTreeAtOnceBothSucceed() throws Exception {
        for (int round = 0; round < 50; round++) {
            String vmId = "vm" + round;
            for (int d = 0; d < 5; d++) {
                Path sub = Files.createDirectories(root.resolve(vmId).resolve("d" + d).resolve("inner"));
                for (int f = 0; f < 20; f++) {
                    Files.writeString(sub.resolve("f" + f), "x");
                    Files.writeString(sub.getParent().resolve("g" + f), "x");
                }
            }
            CyclicBarrier together = new CyclicBarrier(2);
            List<String> failures = new CopyOnWriteArrayList<>();
            Runnable remove = () -> {
                try {
                    together.await();
                    host.removeRuntimeDir(vmId);
                } catch (Exception e) {
                    failures.add(e.toString());
                }
            };
            Thread other = Thread.ofPlatform().start(remove);
            remove.run();
            other.join();
            assertEquals(List.of(), failures, "round " + round);
            assertFalse(Files.exists(root.resolve(vmId)), "round " + round);
        }
    }

    @Test
    void refusesAnIdThatLeavesTheRoot() {
        for (String bad : new String[] {"..", "a/b", "", "."}) {
            assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT,
                    assertThrows(RequestRejectedException.class, () -> host.removeRuntimeDir(bad)).reason(), bad);
        }
    }
}
