package io.hvspi.sim.dragonball;

/**
 * An error answer: {@code kind} is Dragonball's error variant path (outer and inner
 * variant joined by a dot, e.g. {@code Block.InvalidDeviceId}) or a {@code Bridge.*}
 * kind of the protocol itself; {@code message} is the error's display text.
 */
final class ActionError extends Exception {
    private static final long serialVersionUID = 1L;

    private final String kind;

    ActionError(String kind, String message) {
        super(message, null, false, false);
        this.kind = kind;
    }

    String kind() {
        return kind;
    }

    // VmmActionError wrappers, with Dragonball's display prefixes.

    static ActionError bootSource(String variant, String text) {
        return new ActionError("BootSource." + variant, "failed to configure boot source for VM: " + text);
    }

    static ActionError startMicroVm(String variant, String text) {
        return new ActionError("StartMicroVm." + variant, "failed to boot the VM: " + text);
    }

    static ActionError machineConfig(String variant, String text) {
        return new ActionError("MachineConfig." + variant, "failed to set configuration for the VM: " + text);
    }

    static ActionError block(String variant, String text) {
        return new ActionError("Block." + variant, "virtio-blk device error: " + text);
    }

    /** {@code VmmActionError::Network(NetworkDeviceError)}, since Kata merged its network managers (2491a39bca). */
    static ActionError net(String variant, String text) {
        return new ActionError("Network." + variant, "network device error: " + text);
    }

    static ActionError pauseMicroVm(String variant, String text) {
        return new ActionError("PauseMicrovm." + variant, "failed to pause the VM: " + text);
    }

    static ActionError resumeMicroVm(String variant, String text) {
        return new ActionError("ResumeMicrovm." + variant, "failed to resume the VM: " + text);
    }

    static ActionError upcallServerNotReady() {
        return new ActionError("UpcallServerNotReady", "Upcall not ready, can't hotplug device.");
    }

    static ActionError bridge(String variant, String text) {
        return new ActionError("Bridge." + variant, text);
    }
}
