package io.hvspi.plugin.clh;

import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmSpec;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/** Specs, disk files and a deadline poll for the plugin's tests. */
final class TestVms {
    private TestVms() {}

    static VmSpec spec(String vmId, Path binary, Optional<Path> kernel, int vcpus, Map<String, Object> table) {
        return VmSpec.builder().vmId(vmId).hypervisorType("clh").binary(binary).kernel(kernel)
                .kernelParams("console=ttyS0").vcpus(vcpus).memoryMib(256).machineType("").accel("kvm")
                .block(new VmSpec.BlockOptions("virtio-blk-pci", "io_uring", false, false, false))
                .ioThreads(new VmSpec.IOThreadOptions(false, 0, IOThreadPolicy.LEAST_LOADED)).table(table).build();
    }

    /** A sparse file of 1 MiB: a disk that reads zeros. */
    static Path disk(Path dir, String name) {
        Path file = dir.resolve(name + ".img");
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(1 << 20);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    /** Polls {@code condition} every 10 ms until it holds; false when {@code timeout} passed first. */
    static boolean eventually(Duration timeout, BooleanSupplier condition) {
        Instant deadline = Instant.now().plus(timeout);
        while (!condition.getAsBoolean()) {
            if (Instant.now().isAfter(deadline)) {
                return false;
            }
            LockSupport.parkNanos(Duration.ofMillis(10).toNanos());
        }
        return true;
    }
}
