package io.hvspi.spi;

import java.nio.file.Path;

/** What a block device reads and writes. */
public sealed interface BlockBackend {

    /** A host file or block device, opened by exactly this path. */
    record HostPath(Path path) implements BlockBackend {}

    /** A backend that reads zeros and discards writes (QEMU {@code null-co}); for tests and benchmarks. */
    record Null(long sizeBytes) implements BlockBackend {
        public Null {
            if (sizeBytes <= 0) {
                throw new IllegalArgumentException("null backend size must be positive, got " + sizeBytes);
            }
        }
    }

    static BlockBackend path(Path path) {
        return new HostPath(path);
    }

    /** A null backend of 1 GiB. */
    static BlockBackend nullBackend() {
        return new Null(1L << 30);
    }
}
