package io.hvspi.cli;

import io.hvspi.core.config.Accelerator;
import io.hvspi.core.host.ClosedOnExit;
import io.hvspi.core.host.HvspiHost;
import io.hvspi.core.host.LoadedConfig;
import io.hvspi.core.host.VmHandle;
import io.hvspi.core.state.RuntimeDirs;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.NetBackend;
import io.hvspi.spi.NetDevice;
import io.hvspi.spi.NetDeviceSpec;
import io.hvspi.spi.NetworkHotplug;
import io.hvspi.spi.VmSpec;
import io.hvspi.sim.VmmSimulator;
import io.hvspi.sim.VmmSimulators;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

@Command(name = "run", header = "Start a VM from a Kata configuration and hotplug disks.",
        description = "Prints each hotplugged device with the IO thread serving it and that thread's host id."
            + " Stops the VM and cleans up unless --keep.")
final class RunCommand extends HvctlCommand {
    /** umask can only narrow a mode given at creation: 0600 is exact whatever it is. */
    private static final Set<PosixFilePermission> PRIVATE_FILE = PosixFilePermissions.fromString("rw-------");

    @Parameters(arity = "0..1", paramLabel = "CONFIG",
            description = "A Kata configuration.toml (default: the bundled QEMU one with 4 independent IOThreads).")
    Path config;

    @Option(names = "--disks", paramLabel = "N", defaultValue = "4", converter = NumericOptions.RunDisks.class, description = "Disks to hotplug, 0 to 64 (default: ${DEFAULT-VALUE}).")
    int disks;

    @Option(names = "--nics", paramLabel = "N", defaultValue = "0", converter = NumericOptions.RunNics.class,
            description = "Network devices to hotplug, 0 to 16, each on a tap hvspi creates, named after the VM and removed"
                    + " when it stops (default: ${DEFAULT-VALUE}).")
    int nics;

    @Option(names = "--accel", paramLabel = "auto|kvm|tcg", description = "Override the configured accelerator (auto: KVM where usable, else TCG).")
    String accel;

    @Option(names = "--policy", paramLabel = "POLICY",
            description = "Override indep_iothreads_policy: first, round-robin or least-loaded.")
    String policy;

    @Option(names = "--backend", paramLabel = "file|null", defaultValue = "file",
            description = "Disk backends: sparse 64 MiB files in the VM's runtime directory, or null devices (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--vm-id", paramLabel = "ID", description = "The VM's id (default: hvctl-<random>).")
    String vmId;

    @Option(names = "--annotation", paramLabel = "KEY=VALUE", description = "A pod annotation (repeatable).")
    Map<String, String> annotations = new LinkedHashMap<>();

    @Option(names = "--simulate", description = "Run against hvspi's simulator of the VMM (clh, dragonball).")
    boolean simulate;

    @Option(names = "--keep", description = "Leave the VM running; manage it with hvctl vm.")
    boolean keep;

    @Override
    public Integer call() {
        PrintWriter out = out();
        checkArguments();
        Progress progress = new Progress(err(), true);
        try (HvspiHost host = global.host()) {
            LoadedConfig kata = loadConfig(host, config, annotations);
            String id = vmId != null ? vmId
                    : "hvctl-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
            VmSpec vmSpec = effectiveSpec(kata.spec(id));
            Accelerator.Choice accelerator = accel != null ? fromCommandLine(accel) : kata.accelerator();
            progress.step("config " + kata.source() + ": hypervisor " + vmSpec.hypervisorType() + ", accel "
                    + vmSpec.accel() + " (" + accelerator.reason() + "), IOThreads "
                    + ConfigCommand.Check.ioThreads(vmSpec));
            host.factory(vmSpec.hypervisorType()); // an unknown type fails before a simulator starts
            if (!simulate) {
                return runVm(host, vmSpec, Map.of(), progress, out);
            }
            Simulation simulation = new Simulation(host.runtimeRoot(), id);
            // on a signal the host closes it after the VM's stop, which still talks to it
            try (ClosedOnExit closing = host.closeOnExit(simulation)) {
                VmmSimulator simulator = simulation.start(vmSpec.hypervisorType());
                progress.step("started the " + vmSpec.hypervisorType() + " simulator on " + simulator.endpoint());
                return runVm(host, withPlaceholderGuest(vmSpec, simulation.dir()), Map.of("endpoint",
                        simulator.endpoint()), progress, out);
            }
        }
    }

    /** The accelerator --accel chooses, with a reason that names the command line, not the configuration. */
    static Accelerator.Choice fromCommandLine(String accel) {
        Accelerator.Choice c = Accelerator.choose(accel);
        return new Accelerator.Choice(c.accel(), "--accel " + accel + " on the command line"
                + (accel.equals("auto") ? ": " + c.reason().replaceFirst("^auto: ", "") : ""));
    }

    /** Where a simulated run of VM {@code vmId} keeps its simulator; see {@link SimulationDir}. */
    static Path simulationDir(Path runtimeRoot, String vmId) {
        return SimulationDir.of(runtimeRoot, vmId);
    }

    /** A run's simulator and its directory, removed on close; once closed, it does not start. */
    private static final class Simulation implements AutoCloseable {
        private final Path runtimeRoot;
        private final String vmId;
        private SimulationDir dir;
        private VmmSimulator simulator;
        private boolean closed;

        Simulation(Path runtimeRoot, String vmId) {
            this.runtimeRoot = runtimeRoot;
            this.vmId = vmId;
        }

        /** The directory: this run's alone, made here (an existing one is refused, never used). */
        synchronized VmmSimulator start(String type) {
            if (closed) {
                throw new HvspiException("not starting the " + type + " simulator: hvctl is exiting");
            }
            dir = SimulationDir.create(runtimeRoot, vmId);
            String socket = SOCKETS.get(type);
            if (socket != null) {
                dir.checkSocketPath(socket);
            }
            try {
                simulator = VmmSimulators.start(type, dir.dir);
            } catch (UncheckedIOException e) {
                throw new HvspiException("cannot start the " + type + " simulator in " + dir.dir + ": "
                        + e.getCause().getMessage(), e);
            }
            return simulator;
        }

        Path dir() {
            return dir.dir;
        }

        @Override
        public synchronized void close() {
            closed = true;
            try {
                if (simulator != null) {
                    simulator.close();
                }
            } finally {
                if (dir != null) {
                    dir.close();
                }
            }
        }

        @Override
        public String toString() {
            return "the simulator of VM " + vmId + " in " + SimulationDir.of(runtimeRoot, vmId);
        }
    }

    /** The socket each simulator serves in its directory. */
    private static final Map<String, String> SOCKETS = Map.of("clh", io.hvspi.sim.clh.ClhSimulator.SOCKET_NAME,
            "dragonball", io.hvspi.sim.dragonball.DragonballBridgeSimulator.SOCKET_NAME);

    private int runVm(HvspiHost host, VmSpec vmSpec, Map<String, String> vmOptions, Progress progress,
                      PrintWriter out) {
        progress.step("starting VM " + vmSpec.vmId() + " (" + vmSpec.hypervisorType() + ")");
        // the handle stops the VM on close (also on an exception and on SIGINT/SIGTERM/SIGHUP) unless kept
        try (VmHandle handle = host.start(vmSpec, vmOptions)) {
            Hypervisor vm = handle.hypervisor();
            progress.step("VM " + vm.vmId() + " is " + vm.state().name().toLowerCase(java.util.Locale.ROOT)
                    + ", VMM pid " + vm.hostThreads().pid());
            DeviceHotplug hotplug = handle.hotplug();
            // created while no stop (a signal's shutdown hook) can be removing the VM's directory
            Path vmDir = host.runtimeRoot().resolve(vm.vmId());
            List<BlockBackend> backends = handle.whileRunning(() -> diskBackends(vmDir));
            for (int i = 0; i < disks; i++) {
                String deviceId = "disk" + i;
                long t0 = System.nanoTime();
                BlockDevice device = hotplug.attach(BlockDeviceSpec.builder(deviceId, backends.get(i)).build());
                progress.step(String.format("attached %s (%s) in %.1f ms", device.id(),
                        device.onMainLoop() ? "no IOThread" : "IOThread " + String.join(",", device.ioThreads()),
                        (System.nanoTime() - t0) / 1e6));
            }
            if (nics > 0) {
                NetworkHotplug network = handle.networkHotplug();
                for (int i = 0; i < nics; i++) {
                    long t0 = System.nanoTime();
                    NetDevice nic = network.attach(NetDeviceSpec.of("nic" + i,
                            NetBackend.newTap(tapName(vm.vmId(), i))));
                    progress.step(String.format("attached %s (tap %s, MAC %s) in %.1f ms", nic.id(),
                            VmView.tap(nic.backend()), nic.mac(), (System.nanoTime() - t0) / 1e6));
                }
            }
            if (keep) {
                handle.keepRunning();
            }
            if (json) {
                Json.print(out, VmView.json(vm).put("kept", keep));
            } else {
                VmView.printDevices(out, VmView.devices(vm));
                if (nics > 0) {
                    out.println();
                    VmView.printNics(out, VmView.nics(vm));
                }
                vm.ioThreads().ifPresent(pool -> {
                    out.println();
                    VmView.printIoThreads(out, pool.list());
                });
                if (keep) {
                    out.println();
                    out.println("VM " + vm.vmId() + " keeps running. Inspect: hvctl vm status " + vm.vmId()
                            + "   Stop: hvctl vm stop " + vm.vmId());
                }
            }
            if (!keep) {
                progress.step("stopping VM " + vm.vmId());
            }
            return ExitCode.OK;
        }
    }

    /**
     * Kata's fixture configs name a kernel and image that do not exist here, and a
     * simulator opens them as the real VMM would; give it an empty kernel instead.
     */
    private static VmSpec withPlaceholderGuest(VmSpec spec, Path simDir) {
        Path kernel = simDir.resolve("vmlinux.placeholder");
        try {
            Files.write(kernel, new byte[0]);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + kernel + ": " + e.getMessage(), e);
        }
        return spec.toBuilder().kernel(Optional.of(kernel)).initrd(Optional.empty()).image(Optional.empty()).build();
    }

    /**
     * One backend per disk. Files are sparse 64 MiB images in {@code VMDIR/disks}, created 0600 whatever
     * the umask (they hold the guest's data). Called inside {@link VmHandle#whileRunning}: no stop removes
     * the VM's directory meanwhile, and none has yet.
     */
    private List<BlockBackend> diskBackends(Path vmDir) {
        if (backend.equals("null")) {
            return java.util.Collections.nCopies(disks, BlockBackend.nullBackend());
        }
        Path dir = RuntimeDirs.createPrivate(vmDir.resolve("disks"));
        try {
            List<BlockBackend> result = new ArrayList<>();
            for (int i = 0; i < disks; i++) {
                Path file = Files.createFile(dir.resolve("disk" + i + ".img"),
                        PosixFilePermissions.asFileAttribute(PRIVATE_FILE));
                try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
                    raf.setLength(64L << 20); // sparse: costs no disk until written
                }
                result.add(BlockBackend.path(file));
            }
            return result;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create disk images in " + dir + ": " + e.getMessage(), e);
        }
    }

    private VmSpec effectiveSpec(VmSpec base) {
        VmSpec.Builder result = base.toBuilder();
        if (accel != null) {
            result.accel(Accelerator.choose(accel).accel());
        }
        if (policy != null) {
            result.ioThreadPolicy(parsePolicy());
        }
        return result.build();
    }

    private IOThreadPolicy parsePolicy() {
        try {
            return IOThreadPolicy.fromKey(policy);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--policy: " + e.getMessage());
        }
    }

    /**
     * The tap of NIC {@code index}: the VM's id and the index, within the kernel's 15 characters. A long id
     * keeps its first 6 characters and a hash of the whole, so that two VMs' taps differ.
     */
    static String tapName(String vmId, int index) {
        String base = vmId.length() <= 11 ? vmId
                : vmId.substring(0, 6) + String.format("%04x", vmId.hashCode() & 0xffff);
        return base + "-" + index;
    }

    private void checkArguments() {
        if (vmId != null && !RuntimeDirs.VM_ID.matcher(vmId).matches()) {
            throw new ParameterException(spec.commandLine(), "--vm-id: invalid VM id '" + vmId
                    + "': expected a letter, then up to 63 letters, digits, '-', '_' or '.'");
        }
        if (nics > 16) {
            throw new ParameterException(spec.commandLine(), "--nics must be from 0 to 16, got " + nics);
        }
        if (disks < 0 || disks > 64) {
            throw new ParameterException(spec.commandLine(), "--disks must be from 0 to 64, got " + disks);
        }
        if (accel != null && !Accelerator.KEYS.contains(accel)) {
            throw new ParameterException(spec.commandLine(), "--accel must be auto, kvm or tcg, got '" + accel + "'");
        }
        if (!backend.equals("file") && !backend.equals("null")) {
            throw new ParameterException(spec.commandLine(), "--backend must be file or null, got '" + backend + "'");
        }
        if (simulate && keep) {
            throw new ParameterException(spec.commandLine(),
                    "--keep cannot be used with --simulate: the simulator lives inside this hvctl process");
        }
    }
}
