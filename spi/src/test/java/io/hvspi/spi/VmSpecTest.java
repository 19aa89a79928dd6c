package io.hvspi.spi;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** maxVcpus arrived in SPI 1.1 as a record component at the end, with a builder default and the old constructor. */
class VmSpecTest {
    @Test
    void theBuilderDefaultsMaxVcpusToZeroAndToBuilderKeepsIt() {
        VmSpec spec = VmSpec.builder().vmId("vm").hypervisorType("qemu").binary(Path.of("/usr/bin/qemu")).build();
        assertEquals(0, spec.maxVcpus());
        VmSpec withMax = spec.toBuilder().maxVcpus(8).build();
        assertEquals(8, withMax.maxVcpus());
        assertEquals(8, withMax.toBuilder().vcpus(2).build().maxVcpus());
    }

    @Test
    void theSpi10ConstructorStillBuildsASpecWithoutAMaximum() {
        VmSpec old = new VmSpec("vm", "qemu", Path.of("/usr/bin/qemu"), Optional.empty(), Optional.empty(),
                Optional.empty(), "", 2, 512, "q35", "tcg",
                new VmSpec.BlockOptions("virtio-blk-pci", "io_uring", false, false, false),
                new VmSpec.IOThreadOptions(false, 0, IOThreadPolicy.FIRST), 4, Map.of());
        assertEquals(0, old.maxVcpus());
        assertEquals(2, old.vcpus());
    }
}
