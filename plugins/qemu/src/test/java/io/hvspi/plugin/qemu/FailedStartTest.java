package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A QEMU that exits during start: the error quotes QEMU's own last lines, and nothing is left behind. */
class FailedStartTest {
    @TempDir
    Path tmp;

    @Test
    void qemuExitingDuringStartLeavesItsLastLinesInTheError() throws Exception {
        // a regular file (the factory checks that) that is no kernel: QEMU 7.2 and 10 both refuse it and exit
        Path kernel = Files.writeString(tmp.resolve("not-a-kernel"), "not a kernel\n");
        VmSpec spec = TestVms.spec("badkernel", 0, IOThreadPolicy.ROUND_ROBIN).toBuilder()
                .kernel(Optional.of(kernel)).build();
        DefaultHostContext host = TestVms.host(tmp);
        Hypervisor vm = new QemuHypervisorFactory().create(spec, host);

        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, vm::start);

        assertEquals(VmmUnavailableException.Reason.EXITED, e.reason());
        assertTrue(e.getMessage().contains("exited during start: qemu: invalid kernel header"), e.getMessage());
        assertFalse(e.vmmLog().isEmpty(), "no log tail");
        assertTrue(e.vmmLog().get(e.vmmLog().size() - 1).contains("invalid kernel header"), e.vmmLog().toString());
        assertFalse(Files.exists(host.runtimeRoot().resolve("badkernel")), "the runtime directory is left");
        assertTrue(host.stateStore().load("badkernel").isEmpty(), "the record is left");
    }
}
