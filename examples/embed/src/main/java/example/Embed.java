package example;

import io.hvspi.core.host.HvspiHost;
import io.hvspi.core.host.LoadedConfig;
import io.hvspi.core.host.VmHandle;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.VmSpec;
import java.nio.file.Path;

/**
 * Loads hvspi's bundled plugins and a Kata configuration, starts a VM, hotplugs two
 * disks, prints the IOThreads with their host thread ids, and stops the VM.
 *
 * <p>Arguments: PLUGINS_DIR CONFIG [auto|kvm|tcg]. VMs live under $HVSPI_RUNTIME_DIR
 * (default /run/hvspi for root, else $XDG_RUNTIME_DIR/hvspi).
 */
public final class Embed {
    public static void main(String[] args) {
        Path plugins = Path.of(args[0]);
        Path configFile = Path.of(args[1]);
        String accel = args.length > 2 ? args[2] : "auto";

        try (HvspiHost host = HvspiHost.builder().pluginsDir(plugins).build()) {
            LoadedConfig config = host.loadConfig(configFile);
            config.warnings().forEach(w -> System.err.println("warning: " + w));
            System.out.printf("%s: hypervisor %s, %d independent IOThreads, policy %s%n", config.source(),
                    config.hypervisorType(), config.poolSize(), config.ioThreadPolicy().key());

            VmSpec spec = config.spec("embed-" + ProcessHandle.current().pid()).toBuilder().accel(accel).build();
            // closing the handle stops the VM: also on an exception, Ctrl-C or SIGTERM
            try (VmHandle vm = host.start(spec)) {
                System.out.printf("VM %s started, VMM pid %d%n", vm.vmId(), vm.hostThreads().pid());
                for (String id : new String[] {"disk0", "disk1"}) {
                    BlockDevice disk = vm.hotplug().attach(
                            BlockDeviceSpec.builder(id, BlockBackend.nullBackend()).build());
                    System.out.printf("attached %s on %s%n", disk.id(), String.join(",", disk.ioThreads()));
                }
                for (IOThreadInfo t : vm.ioThreads().list()) {
                    System.out.printf("%-18s host tid %-8s devices %s%n", t.id(),
                            t.hostThreadId().isPresent() ? Long.toString(t.hostThreadId().getAsLong()) : "?",
                            t.devices());
                }
            }
            System.out.println("VM stopped");
        }
    }
}
