package io.hvspi.plugin.qemu.cmdline;

import io.hvspi.plugin.qemu.process.RuntimeLayout;
import io.hvspi.spi.VmSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Builds QEMU's argument list from a {@link VmSpec}: an argument list for
 * {@link ProcessBuilder}, never a shell string. Every value QEMU parses as an
 * option list goes through {@link OptionList} (commas doubled); every id is
 * checked against QEMU's id grammar.
 *
 * <p>QEMU always starts with {@code -S} (paused before the first instruction, as
 * libvirt does): hvspi probes and records the VM first and then sends {@code cont}
 * when there is a guest to run. Without a guest kernel or image the VM stays
 * paused and hotplug still works.
 */
public final class QemuCommandLine {
    /** Kata's pool ids: {@code indep_iothread_0} .. {@code indep_iothread_<n-1>}. */
    public static final String POOL_PREFIX = "indep_iothread_";
    /** runtime-rs's id for the virtio-scsi controller's IOThread (the Go runtime uses a random one). */
    public static final String SCSI_IOTHREAD = "scsi-io-thread";
    /** The virtio-scsi controller; hotplugged {@code scsi-hd}s go on its bus {@code scsi0.0}. */
    public static final String SCSI_CONTROLLER = "scsi0";
    /** Root ports are {@code rp0} .. {@code rp<n-1>}. */
    public static final String ROOT_PORT_PREFIX = "rp";
    /** Root ports go eight to a pcie.0 slot (functions 0..7), from this slot on, as libvirt packs them. */
    static final int ROOT_PORT_FIRST_SLOT = 0x08;
    /** Eight slots of eight functions; pcie.0 keeps slots 1..7 and 0x10.. for devices QEMU places itself. */
    public static final int MAX_ROOT_PORTS = 64;
    /** The block node and device of a guest image ({@code image} in the Kata config). */
    public static final String IMAGE_ID = "image";
    private static final String QMP_CHARDEV = "qmp";
    private static final String CONSOLE_CHARDEV = "console";
    private static final String EVENTS_CHARDEV = "events";

    private QemuCommandLine() {}

    /**
     * What a command line creates, besides the argument list: the names hotplug and
     * the IOThread pool work with.
     *
     * @param argv the argument list, the binary first
     * @param pool the independent IOThreads, in creation order
     * @param rootPorts the hotplug root ports, in creation order
     * @param scsiIoThread the virtio-scsi controller's IOThread, when there is one
     * @param scsiController whether a virtio-scsi controller exists
     */
    public record Plan(List<String> argv, List<String> pool, List<String> rootPorts, Optional<String> scsiIoThread,
                       boolean scsiController) {
        public Plan {
            argv = List.copyOf(argv);
            pool = List.copyOf(pool);
            rootPorts = List.copyOf(rootPorts);
        }
    }

    /** The argument list for {@code spec}, with its files under {@code layout}. */
    public static Plan build(VmSpec spec, RuntimeLayout layout) {
        QemuIds.check(spec.vmId(), "VM");
        List<String> a = new ArrayList<>();
        a.add(spec.binary().toString());
        a.add("-name");
        // debug-threads names host threads after QEMU's ids ("IO <iothread>", "CPU 0/TCG") where they fit into 15 bytes
        a.add(OptionList.of(spec.vmId()).with("debug-threads", true).toString());
        a.add("-machine");
        a.add(OptionList.of(spec.machineType()).with("accel", spec.accel()).toString());
        a.add("-smp");
        // Kata's govmm (qemu.go: SMP.MaxCPUs) adds maxcpus=default_maxvcpus so vCPUs can be hotplugged up to it
        a.add(spec.maxVcpus() > spec.vcpus() ? spec.vcpus() + ",maxcpus=" + spec.maxVcpus()
                : Integer.toString(spec.vcpus()));
        a.add("-m");
        a.add(spec.memoryMib() + "M");
        a.addAll(List.of("-nodefaults", "-no-user-config", "-display", "none", "-S"));

        a.add("-chardev");
        a.add(OptionList.of("socket").with("id", QMP_CHARDEV).with("path", layout.qmpSocket().toString())
                .with("server", true).with("wait", false).toString());
        a.add("-mon");
        a.add(OptionList.keys().with("chardev", QMP_CHARDEV).with("mode", "control").toString());
        // a socket to talk to the guest, and a log that keeps what the guest wrote while nobody listened
        a.add("-chardev");
        a.add(OptionList.of("socket").with("id", CONSOLE_CHARDEV).with("path", layout.consoleSocket().toString())
                .with("server", true).with("wait", false).with("logfile", layout.consoleLog().toString())
                .toString());
        a.add("-serial");
        a.add("chardev:" + CONSOLE_CHARDEV);
        // a second monitor for followers (hvctl vm events): the first admits one client, the VM's owner
        a.add("-chardev");
        a.add(OptionList.of("socket").with("id", EVENTS_CHARDEV).with("path", layout.eventsSocket().toString())
                .with("server", true).with("wait", false).toString());
        a.add("-mon");
        a.add(OptionList.keys().with("chardev", EVENTS_CHARDEV).with("mode", "control").toString());

        List<String> pool = new ArrayList<>();
        for (int i = 0; i < spec.ioThreads().poolSize(); i++) {
            String id = POOL_PREFIX + i;
            pool.add(id);
            a.add("-object");
            a.add(OptionList.of("iothread").with("id", id).toString());
        }

        Optional<String> scsiIoThread = Optional.empty();
        boolean scsi = BlockDriver.fromName(spec.block().driver()).orElse(null) == BlockDriver.SCSI_HD;
        if (scsi) {
            OptionList controller = OptionList.of("virtio-scsi-pci").with("id", SCSI_CONTROLLER).with("bus", "pcie.0");
            if (spec.ioThreads().enabled()) {
                // Kata gives the SCSI controller its own IOThread whenever enable_iothreads is set
                scsiIoThread = Optional.of(SCSI_IOTHREAD);
                a.add("-object");
                a.add(OptionList.of("iothread").with("id", SCSI_IOTHREAD).toString());
                controller.with("iothread", SCSI_IOTHREAD);
            }
            a.add("-device");
            a.add(controller.toString());
        }

        // pcie.0 does not take hotplug on q35: every hotplugged PCI device gets a root port of its own.
        // One port per slot would stop at about 28; eight functions per slot make room for 64.
        List<String> ports = new ArrayList<>();
        int count = spec.hotplugSlots();
        for (int i = 0; i < count; i++) {
            String id = ROOT_PORT_PREFIX + i;
            ports.add(id);
            int slot = ROOT_PORT_FIRST_SLOT + i / 8;
            int function = i % 8;
            OptionList port = OptionList.of("pcie-root-port").with("id", id).with("bus", "pcie.0")
                    .with("chassis", i + 1).with("addr", Integer.toHexString(slot) + "." + function);
            if (function == 0 && i + 1 < count) {
                port.with("multifunction", true);
            }
            a.add("-device");
            a.add(port.toString());
        }

        spec.image().ifPresent(image -> {
            a.add("-blockdev");
            a.add(OptionList.keys().with("driver", "raw").with("node-name", IMAGE_ID).with("read-only", true)
                    .with("file.driver", "file").with("file.filename", image.toString()).toString());
            a.add("-device");
            a.add(OptionList.of("virtio-blk-pci").with("id", IMAGE_ID).with("drive", IMAGE_ID).with("bus", "pcie.0")
                    .toString());
        });
        spec.kernel().ifPresent(kernel -> {
            // -kernel, -initrd and -append take plain strings, not option lists: no escaping
            a.add("-kernel");
            a.add(kernel.toString());
            spec.initrd().ifPresent(initrd -> {
                a.add("-initrd");
                a.add(initrd.toString());
            });
            if (!spec.kernelParams().isBlank()) {
                a.add("-append");
                a.add(spec.kernelParams());
            }
        });
        return new Plan(a, pool, ports, scsiIoThread, scsi);
    }
}
