package io.hvspi.plugin.qemu;

import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.qemu.state.DeviceState;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmRecord;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * A separate process that does one thing to a VM, as {@code hvctl} would: reattach
 * from the record, print {@code ready}, run one operation, print {@code done}. The
 * cross-process fault tests SIGKILL it at random points of the operation.
 *
 * <p>Arguments: the runtime root, the VM id, and the operation ({@code attach},
 * {@code detach}, {@code move}, {@code iothread-add}, {@code iothread-remove}, or
 * {@code start}, which starts a new guestless VM of that id instead); an optional
 * fourth argument is the id of the disk to attach (default {@value #DISK}).
 */
public final class ChildOperation {
    static final String DISK = "d1";
    static final String MOVED = "d0";
    static final String EXTRA = "extra";
    static final String IO0 = "indep_iothread_0";
    static final String IO1 = "indep_iothread_1";

    private ChildOperation() {}

    public static void main(String[] args) {
        DefaultHostContext host = new DefaultHostContext(Path.of(args[0]), Duration.ofSeconds(5), Map.of());
        String vmId = args[1];
        if (args[2].equals("start")) {
            QemuHypervisor vm = (QemuHypervisor) new QemuHypervisorFactory()
                    .create(TestVms.spec(vmId, 2, IOThreadPolicy.LEAST_LOADED), host);
            System.out.println("ready");
            vm.start();
            System.out.println("done");
            return;
        }
        VmRecord record = host.stateStore().load(vmId).orElseThrow();
        try (QemuHypervisor vm = QemuHypervisor.reattach(record, host)) {
            System.out.println("ready");
            System.out.flush();
            switch (args[2]) {
                case "attach" -> vm.requireHotplug().attach(BlockDeviceSpec.builder(args.length > 3 ? args[3] : DISK,
                        BlockBackend.nullBackend()).build());
                case "detach" -> vm.requireHotplug().detach(DISK, Duration.ofSeconds(5));
                case "move" -> vm.requireHotplug().move(MOVED, IOThreadChoice.named(
                        onIo0(record) ? IO1 : IO0));
                case "iothread-add" -> vm.requireIoThreads().add(EXTRA);
                case "iothread-remove" -> vm.requireIoThreads().remove(EXTRA);
                // what a fresh process reports: one line per IOThread, its pin and the kernel's affinity
                case "pins" -> vm.requireIoThreads().list().forEach(t -> System.out.println("pin " + t.id() + " "
                        + t.pinned().map(Object::toString).orElse("-") + " "
                        + t.affinity().map(Object::toString).orElse("-")));
                // a NIC on a tap the child creates (its name is the fourth argument), and what a fresh process lists
                case "nic-attach" -> vm.requireNetworkHotplug().attach(io.hvspi.spi.NetDeviceSpec.of("nic0",
                        io.hvspi.spi.NetBackend.newTap(args[3])));
                case "nics" -> vm.requireNetworkHotplug().list().forEach(n -> System.out.println("nic " + n.id() + " "
                        + n.mac() + " " + ((io.hvspi.spi.NetBackend.Tap) n.backend()).name()));
                default -> throw new IllegalArgumentException("unknown operation " + args[2]);
            }
            System.out.println("done");
        }
    }

    private static boolean onIo0(VmRecord record) {
        return TestVms.durable(record).devices().stream().filter(d -> d.id().equals(MOVED))
                .map(DeviceState::ioThreads).findFirst().orElse(List.of()).equals(List.of(IO0));
    }
}
