package io.hvspi.tck;

import static io.hvspi.spi.Capability.BLOCK_DEVICE_HOTPLUG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/**
 * How errors look: the VMM's own text kept, refusals typed, one line each, and
 * an answer (never a hang) from a VM that is not running. The unsupported
 * error's form is checked by every capability-guarded test.
 */
@Contract(value = "errors", title = "Error contracts")
public abstract class ErrorContract extends ContractBase {

    protected ErrorContract(TckKit kit) {
        super(kit);
    }

    @Test
    @Order(1)
    @DisplayName("a VMM's error keeps the VMM's own class and text")
    void vmmErrorsKeepTheVmmsText() {
        Hypervisor vm = kit.startVm();
        if (!kit.supports(vm, BLOCK_DEVICE_HOTPLUG, vm::requireHotplug)) {
            return;
        }
        HvspiException e = assertThrows(HvspiException.class, () -> hotplug(vm).attach(
                BlockDeviceSpec.builder("tck-err", BlockBackend.path(BlockHotplugContract.MISSING)).build()));
        assertOneLine(e);
        if (e instanceof VmmException v) {
            assertFalse(v.errorClass().isBlank(), "VmmException must keep the VMM's error class");
            assertFalse(v.vmmMessage().isBlank(), "VmmException must keep the VMM's error text");
            assertFalse(v.command().isBlank(), "VmmException must name the command");
            assertTrue(v.getMessage().contains(v.vmmMessage()),
                    () -> "the message must carry the VMM's text unchanged: " + v.getMessage());
            kit.note("hvspi.vmm-error", v.getMessage());
        } else if (e instanceof RequestRejectedException r) {
            // refused before the VMM saw it: then the message must say which path
            assertTrue(r.getMessage().contains(BlockHotplugContract.MISSING.toString()),
                    () -> "a refusal of a bad path must name it: " + r.getMessage());
        } else {
            throw new AssertionError("a bad path must give VmmException or RequestRejectedException, got " + e, e);
        }
    }

    @Test
    @Order(2)
    @DisplayName("a stopped VM refuses operations promptly, in one line")
    void stoppedVmRefusesOperations() {
        Hypervisor vm = kit.startVm();
        // the view is taken while the VM runs: a missing one aborts here, not inside the assertions below
        DeviceHotplug hotplug = vm.supports(BLOCK_DEVICE_HOTPLUG) ? hotplug(vm) : null;
        vm.stop();
        assertNotRunning(assertThrows(HvspiException.class, vm::pause, "pause on a stopped VM"));
        assertNotRunning(assertThrows(HvspiException.class, vm::resume, "resume on a stopped VM"));
        if (hotplug != null) {
            assertNotRunning(assertThrows(HvspiException.class,
                    () -> hotplug.attach(disk(vm, "tck-late").build()), "attach on a stopped VM"));
        }
        assertEquals(VmState.STOPPED, vm.state());
    }

    @Test
    @Order(3)
    @DisplayName("a VM that was never started refuses pause")
    void createdVmRefusesPause() {
        Hypervisor vm = kit.createVm(1, IOThreadPolicy.LEAST_LOADED);
        assertNotRunning(assertThrows(HvspiException.class, vm::pause, "pause before start"));
        assertEquals(VmState.CREATED, vm.state());
    }

    private static void assertNotRunning(HvspiException e) {
        assertOneLine(e);
        boolean typed = (e instanceof RequestRejectedException r && r.reason() == RequestRejectedException.Reason.INVALID_STATE)
                || e instanceof VmmUnavailableException;
        assertTrue(typed, () -> "expected RequestRejectedException (INVALID_STATE) or VmmUnavailableException, got "
                + e.getClass().getSimpleName() + ": " + e.getMessage());
    }
}
