package io.hvspi.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
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

    @Test
    void refusesAnIdThatLeavesTheRoot() {
        for (String bad : new String[] {"..", "a/b", "", "."}) {
            assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT,
                    assertThrows(RequestRejectedException.class, () -> host.removeRuntimeDir(bad)).reason(), bad);
        }
    }
}
