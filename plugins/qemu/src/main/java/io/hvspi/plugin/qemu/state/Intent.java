package io.hvspi.plugin.qemu.state;

import java.util.List;
import java.util.Objects;

/**
 * An operation that has begun to change QEMU and has not finished: saved with the
 * VM's state before its first QMP command, cleared with the save after its last.
 * Whoever reattaches next and finds it settles it against what QEMU really has
 * (see {@code reconcile.Reconciler}): finished, or rolled back.
 *
 * @param op what was being done
 * @param id the device or IOThread concerned
 * @param device for {@link Op#ATTACH} the device as it will be recorded once QEMU confirms it; for
 *               {@link Op#DETACH} and {@link Op#MOVE} the device as recorded before (a move's marked as unplugging once
 *               QEMU took its {@code device_del}: {@link #withUnplugAsked}); {@code null} for IOThreads
 * @param target for {@link Op#MOVE} the IOThread(s) the device goes to (empty: the main loop); for
 *               {@link Op#PIN} the one CPU set ({@code 0-3,6}); else empty
 * @param nic for {@link Op#NIC_ATTACH} the network device as it will be recorded once QEMU confirms it
 *            (a NIC's detach is recorded as its {@link NicState#unplugging()} mark); else {@code null}
 */
public record Intent(Op op, String id, DeviceState device, List<String> target, NicState nic) {
    /** The operations that write intents. */
    public enum Op { ATTACH, DETACH, MOVE, IOTHREAD_ADD, IOTHREAD_REMOVE, NIC_ATTACH, PIN, UNPIN }

    /** An intent about a block device, an IOThread or a pin (as format 2 had them). */
    public Intent(Op op, String id, DeviceState device, List<String> target) {
        this(op, id, device, target, null);
    }

    public Intent {
        Objects.requireNonNull(op, "op");
        Objects.requireNonNull(id, "id");
        target = target == null ? List.of() : List.copyOf(target);
        if ((op == Op.ATTACH || op == Op.DETACH || op == Op.MOVE) && device == null) {
            throw new IllegalArgumentException(op + " intent of '" + id + "' names no device");
        }
        if (op == Op.NIC_ATTACH && nic == null) {
            throw new IllegalArgumentException(op + " intent of '" + id + "' names no network device");
        }
    }

    public static Intent nicAttach(NicState planned) {
        return new Intent(Op.NIC_ATTACH, planned.id(), null, List.of(), planned);
    }

    /** True for intents about a network device. */
    public boolean aboutNic() {
        return nic != null;
    }

    public static Intent attach(DeviceState planned) {
        return new Intent(Op.ATTACH, planned.id(), planned, List.of());
    }

    public static Intent detach(DeviceState device) {
        return new Intent(Op.DETACH, device.id(), device, List.of());
    }

    public static Intent move(DeviceState device, List<String> target) {
        return new Intent(Op.MOVE, device.id(), device, target);
    }

    /**
     * This move once QEMU took its {@code device_del}: its device marked as unplugging. The move
     * logs it then, so that a reattach knows an unplug may be pending with the guest; a move
     * intent without the mark may have been cut off before its {@code device_del} was sent.
     */
    public Intent withUnplugAsked() {
        if (op != Op.MOVE) {
            throw new IllegalStateException(op + " intent has no unplug step");
        }
        return new Intent(op, id, device.withUnplugging(true), target, nic);
    }

    /** True for a move whose {@code device_del} QEMU took ({@link #withUnplugAsked}). */
    public boolean unplugAsked() {
        return op == Op.MOVE && device.unplugging();
    }

    public static Intent ioThreadAdd(String id) {
        return new Intent(Op.IOTHREAD_ADD, id, null, List.of());
    }

    public static Intent ioThreadRemove(String id) {
        return new Intent(Op.IOTHREAD_REMOVE, id, null, List.of());
    }

    public static Intent pin(String ioThread, String cpus) {
        return new Intent(Op.PIN, ioThread, null, List.of(cpus));
    }

    public static Intent unpin(String ioThread) {
        return new Intent(Op.UNPIN, ioThread, null, List.of());
    }

    /** True for a pin or unpin (about an IOThread's host thread, not about QEMU's objects). */
    public boolean aboutPin() {
        return op == Op.PIN || op == Op.UNPIN;
    }

    /** True for intents about a block device, false for IOThread, pin and network device ones. */
    public boolean aboutDevice() {
        return device != null;
    }
}
