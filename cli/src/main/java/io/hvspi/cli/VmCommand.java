package io.hvspi.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import io.hvspi.core.host.HvspiHost;
import io.hvspi.core.host.VmHandle;
import io.hvspi.core.state.VmEntry;
import io.hvspi.core.state.VmStopper;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.NetBackend;
import io.hvspi.spi.NetDevice;
import io.hvspi.spi.NetDeviceSpec;
import io.hvspi.spi.NetworkHotplug;
import io.hvspi.spi.PollingParams;
import io.hvspi.spi.RequestRejectedException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "vm", header = "Manage VMs kept running by hvctl run --keep.",
        description = "Each command reaches the VM through its recorded state and a fresh connection to its VMM.",
        subcommands = {VmCommand.ListVms.class, VmCommand.Status.class, VmCommand.IoThreads.class,
                VmCommand.Hotplug.class, VmCommand.Unplug.class, VmCommand.Move.class, VmCommand.Stop.class,
                VmEventsCommand.class, VmLogsCommand.class})
final class VmCommand {
    private VmCommand() {}

    /** What every vm subcommand shares: options, output, and reattaching to a recorded VM. */
    abstract static class VmAction extends HvctlCommand {

        /** Prints one device exactly as run and status show it. */
        void printDevice(Hypervisor vm, BlockDevice d, String done) {
            VmView.afterChange(done + " device '" + d.id() + "'", () -> {
                if (json) {
                    for (var node : VmView.json(vm).withArray("devices")) {
                        if (node.path("id").asText().equals(d.id())) {
                            Json.print(out(), node);
                        }
                    }
                    return;
                }
                VmView.printDevices(out(), VmView.devices(vm).stream().filter(r -> r.device().id().equals(d.id()))
                        .toList());
            });
        }

        /** Runs {@code action} on the reattached VM under its lock, then disconnects; the VM keeps running. */
        int withVm(String vmId, java.util.function.Function<Hypervisor, Integer> action) {
            try (HvspiHost host = global.host(); VmHandle vm = host.reattach(vmId)) {
                return action.apply(vm.hypervisor());
            }
        }
    }

    /** A VM id argument, for the subcommands that act on one VM. */
    abstract static class OneVm extends VmAction {
        @Parameters(index = "0", paramLabel = "VM", description = "The VM's id (see: hvctl vm list).")
        String vmId;
    }

    @Command(name = "list", header = "List the VMs and whether their VMM still runs.",
            description = "Lists the VMs under the runtime root, oldest first, with creation times in UTC to the second."
            + " A corrupt record is one row marked corrupt, with a warning.")
    static final class ListVms extends VmAction {
        @Option(names = {"-q", "--quiet"}, description = "Print only the VM ids, one a line.")
        boolean quiet;

        @Override
        public Integer call() {
            List<VmEntry> entries;
            try (HvspiHost host = global.host()) {
                entries = host.list();
            }
            if (quiet && !json) {
                entries.forEach(e -> out().println(e.vmId()));
                return ExitCode.OK;
            }
            if (json) {
                ArrayNode array = Json.array();
                for (VmEntry e : entries) {
                    var node = array.addObject().put("id", e.vmId());
                    switch (e) {
                        case VmEntry.Recorded r -> node.put("type", r.record().hypervisorType())
                                .put("pid", r.record().pid()).put("alive", r.vmmAlive())
                                .put("createdAt", toSecond(r.record().createdAt()))
                                .put("runtimeDir", r.record().runtimeDir().toString());
                        case VmEntry.Unrecorded u -> node.put("unrecorded", true).put("runtimeDir", u.dir().toString());
                        case VmEntry.Corrupt c -> node.put("corrupt", c.reason()).put("runtimeDir", c.dir().toString());
                    }
                }
                Json.print(out(), array);
                return ExitCode.OK;
            }
            Table table = new Table("VM", "TYPE", "PID", "ALIVE", "CREATED", "RUNTIME DIR");
            for (VmEntry e : entries) {
                switch (e) {
                    case VmEntry.Recorded r -> table.row(r.vmId(), r.record().hypervisorType(), r.record().pid(),
                            r.vmmAlive() ? "yes" : "no", toSecond(r.record().createdAt()), r.record().runtimeDir());
                    case VmEntry.Unrecorded u -> table.row(u.vmId(), "-", "-", "no record", "-", u.dir());
                    case VmEntry.Corrupt c -> {
                        table.row(c.vmId(), "-", "-", "corrupt", "-", c.dir());
                        err().println("hvctl: warning: " + c.reason());
                    }
                }
            }
            table.print(out());
            return ExitCode.OK;
        }
    }

    @Command(name = "status", header = "Show a VM's state, capabilities, IOThreads and devices.")
    static final class Status extends OneVm {
        @Override
        public Integer call() {
            return withVm(vmId, vm -> {
                if (json) {
                    Json.print(out(), VmView.json(vm));
                    return ExitCode.OK;
                }
                PrintWriter out = out();
                out.println("VM " + vm.vmId() + " (" + vm.type() + "): " + vm.state().name().toLowerCase(java.util.Locale.ROOT)
                        + ", VMM pid " + vm.hostThreads().pid());
                out.println("capabilities: " + String.join(",", Capabilities.sorted(vm.capabilities()).stream()
                        .map(io.hvspi.spi.Capability::key).toList()));
                out.println();
                VmView.printDevices(out, VmView.devices(vm));
                List<NetDevice> nics = VmView.nics(vm);
                if (!nics.isEmpty()) {
                    out.println();
                    VmView.printNics(out, nics);
                }
                vm.ioThreads().ifPresent(pool -> {
                    out.println();
                    VmView.printIoThreads(out, pool.list());
                });
                return ExitCode.OK;
            });
        }
    }

    @Command(name = "iothreads", header = "List, add, remove or pin a VM's IOThreads, or set polling.",
            description = "Without options, lists the pool; the options act first, then the pool is listed.")
    static final class IoThreads extends OneVm {
        @Option(names = "--add", paramLabel = "ID", description = "Add an IOThread while the VM runs.")
        String add;

        @Option(names = "--remove", paramLabel = "ID", description = "Remove an IOThread no device uses.")
        String remove;

        @Option(names = "--poll", paramLabel = "ID:MAX_NS[:GROW:SHRINK]", converter = NumericOptions.Poll.class, description = "Set adaptive polling of an IOThread.")
        String poll;

        @Option(names = "--pin", paramLabel = "ID=CPUS", converter = PinOption.Converter.class,
                description = "Pin an IOThread's host thread to CPUs, e.g. indep_iothread_0=2-3 (recorded: kept and"
                        + " reported by later hvctl calls).")
        PinOption pin;

        @Option(names = "--unpin", paramLabel = "ID", description = "Let a pinned IOThread run on every CPU again.")
        String unpin;

        @Override
        public Integer call() {
            return withVm(vmId, vm -> {
                var pool = vm.requireIoThreads();
                if (pin != null) {
                    pool.pin(pin.id(), pin.cpus());
                }
                if (unpin != null) {
                    pool.unpin(unpin);
                }
                if (add != null) {
                    pool.add(add);
                }
                if (remove != null) {
                    pool.remove(remove);
                }
                if (poll != null) {
                    String[] parts = poll.split(":");
                    if (parts.length != 2 && parts.length != 4) {
                        throw new RequestRejectedException(RequestRejectedException.Reason.INVALID_ARGUMENT,
                                "--poll expects ID:MAX_NS or ID:MAX_NS:GROW:SHRINK, got '" + poll + "'");
                    }
                    long[] v = Arrays.stream(parts, 1, parts.length).mapToLong(VmCommand::parseLong).toArray();
                    pool.setPolling(parts[0], new PollingParams(v[0], v.length > 1 ? v[1] : 0, v.length > 1 ? v[2] : 0));
                }
                List<IOThreadInfo> list = pool.list();
                if (json) {
                    Json.print(out(), VmView.json(vm).get("iothreads"));
                } else {
                    VmView.printIoThreads(out(), list);
                }
                return ExitCode.OK;
            });
        }
    }

    @Command(name = "hotplug", header = "Attach a block or network device to a running VM.",
            description = "A block device with --path or --null, a network device with --tap.")
    static final class Hotplug extends OneVm {
        @Option(names = "--id", required = true, paramLabel = "DEVICE", description = "The new device's id.")
        String deviceId;

        @ArgGroup(exclusive = true, multiplicity = "1")
        Backend backend;

        static final class Backend {
            @Option(names = "--path", paramLabel = "FILE", description = "A host file or block device.")
            Path path;

            @Option(names = "--null", paramLabel = "MIB", converter = NumericOptions.NullMib.class, description = "A null device of this size in MiB (QEMU null-co).")
            Long nullMib;

            @Option(names = "--tap", paramLabel = "NAME", description = "A network device on this host tap (an existing one, or see --create-tap).")
            String tap;
        }

        @Option(names = "--create-tap", description = "With --tap: hvspi creates the tap, and removes it on unplug or VM stop.")
        boolean createTap;

        @Option(names = "--mac", paramLabel = "MAC", description = "With --tap: the guest's MAC (default: a generated locally administered one).")
        String mac;

        @Option(names = "--iothread", paramLabel = "CHOICE", defaultValue = "policy", converter = NumericOptions.IoThreadChoice.class,
                description = "policy (default), none (main loop), an IOThread id, or id,id,... for vq-mapping.")
        String ioThread;

        @Option(names = "--read-only", description = "Attach read-only.")
        boolean readOnly;

        @Option(names = "--queues", paramLabel = "N", converter = NumericOptions.Queues.class, description = "Queue count (default: the VMM's).")
        Integer queues;

        @Override
        public Integer call() {
            if (backend.tap != null) {
                return attachNic();
            }
            if (createTap || mac != null) {
                throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                        (createTap ? "--create-tap" : "--mac") + " applies to network devices: give --tap NAME");
            }
            return withVm(vmId, vm -> {
                BlockBackend b = backend.path != null ? BlockBackend.path(backend.path.toAbsolutePath())
                        : new BlockBackend.Null(backend.nullMib << 20);
                BlockDeviceSpec.Builder builder = BlockDeviceSpec.builder(deviceId, b).readOnly(readOnly)
                        .ioThread(parseChoice(ioThread));
                if (queues != null) {
                    builder.queues(queues);
                }
                BlockDevice d = vm.requireHotplug().attach(builder.build());
                printDevice(vm, d, "attached");
                return ExitCode.OK;
            });
        }

        private int attachNic() {
            if (readOnly || !ioThread.equals("policy")) {
                throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                        (readOnly ? "--read-only" : "--iothread") + " applies to block devices, not to --tap");
            }
            NetBackend tap;
            try {
                tap = createTap ? NetBackend.newTap(backend.tap) : NetBackend.tap(backend.tap);
            } catch (IllegalArgumentException e) {
                throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--tap: " + e.getMessage());
            }
            NetDeviceSpec nic = NetDeviceSpec.of(deviceId, tap).withQueues(queues != null ? queues : 1);
            NetDeviceSpec withMac = mac != null ? nic.withMac(mac) : nic;
            return withVm(vmId, vm -> {
                NetDevice d = vm.requireNetworkHotplug().attach(withMac);
                if (json) {
                    Json.print(out(), VmView.json(d));
                } else {
                    VmView.printNics(out(), List.of(d));
                }
                return ExitCode.OK;
            });
        }
    }

    @Command(name = "unplug", header = "Detach a block or network device from a running VM.",
            description = "Waits until the VMM (and the guest) released the device, up to --wait.")
    static final class Unplug extends OneVm {
        @Parameters(index = "1", paramLabel = "DEVICE", description = "The device's id.")
        String deviceId;

        @Option(names = "--wait", paramLabel = "SECONDS", defaultValue = "10", converter = NumericOptions.Seconds.class,
                description = "How long to wait for the device to go (default: ${DEFAULT-VALUE}).")
        double waitSeconds;

        @Override
        public Integer call() {
            return withVm(vmId, vm -> {
                Duration wait = Duration.ofMillis((long) (waitSeconds * 1000));
                java.util.Optional<NetworkHotplug> network = vm.networkHotplug()
                        .filter(n -> n.list().stream().anyMatch(d -> d.id().equals(deviceId)));
                if (network.isPresent()) {
                    network.get().detach(deviceId, wait);
                } else {
                    vm.requireHotplug().detach(deviceId, wait);
                }
                if (json) {
                    Json.print(out(), Json.object().put("detached", deviceId));
                } else {
                    out().println("detached " + deviceId);
                }
                return ExitCode.OK;
            });
        }
    }

    @Command(name = "move", header = "Move a block device to another IOThread.",
            description = "On QEMU this is an unplug and a replug: the guest sees the device go and come back.")
    static final class Move extends OneVm {
        @Parameters(index = "1", paramLabel = "DEVICE", description = "The device's id.")
        String deviceId;

        @Option(names = "--iothread", required = true, paramLabel = "CHOICE", converter = NumericOptions.IoThreadChoice.class,
                description = "policy, none, an IOThread id, or id,id,... for vq-mapping.")
        String ioThread;

        @Override
        public Integer call() {
            return withVm(vmId, vm -> {
                printDevice(vm, vm.requireHotplug().move(deviceId, parseChoice(ioThread)), "moved");
                return ExitCode.OK;
            });
        }
    }

    @Command(name = "stop", header = "Stop VMs and remove their runtime directories and state.",
            description = "A VM that is already gone is not an error: it is listed as absent, with a note."
            + " Every VM given is tried; the exit code is that of the first failure.")
    static final class Stop extends VmAction {
        @Parameters(arity = "1..*", paramLabel = "VM", description = "The VMs' ids (see: hvctl vm list).")
        List<String> vmIds;

        @Override
        public Integer call() {
            List<String> stopped = new ArrayList<>();
            List<String> absent = new ArrayList<>();
            java.util.Map<String, String> failed = new java.util.LinkedHashMap<>();
            RuntimeException firstFailure = null;
            try (HvspiHost host = global.host()) {
                for (String vmId : new LinkedHashSet<>(vmIds)) {
                    try {
                        stop(host, vmId);
                        stopped.add(vmId);
                    } catch (io.hvspi.spi.HvspiException e) {
                        if (e instanceof RequestRejectedException r && r.reason() == RequestRejectedException.Reason.NOT_FOUND) {
                            absent.add(vmId);
                            removeSimulation(host, vmId); // a simulated run killed before its VM was recorded
                            err().println("hvctl: note: VM " + vmId + " is not there (already stopped?); nothing to do");
                            continue;
                        }
                        failed.put(vmId, e.getMessage());
                        if (vmIds.size() == 1 && !json) {
                            throw e; // one VM: the error is the command's, with its hint
                        }
                        err().println("hvctl: error: VM " + vmId + ": " + e.getMessage());
                        firstFailure = firstFailure == null ? e : firstFailure;
                    }
                }
            }
            if (json) {
                // every VM given is in one of the three lists, whatever happened to the others
                var doc = Json.object();
                stopped.forEach(doc.putArray("stopped")::add);
                absent.forEach(doc.putArray("absent")::add);
                ArrayNode failures = doc.putArray("failed");
                failed.forEach((id, error) -> failures.addObject().put("id", id).put("error", error));
                Json.print(out(), doc);
            } else {
                stopped.forEach(id -> out().println("stopped " + id));
            }
            return firstFailure == null ? ExitCode.OK : ExitCode.of(firstFailure);
        }

        private void stop(HvspiHost host, String vmId) {
            VmStopper.Outcome outcome = host.stop(vmId);
            removeSimulation(host, vmId);
            if (outcome.signalled().isEmpty()) {
                outcome.pluginFailure().ifPresent(why -> err().println("hvctl: VM " + vmId
                        + " was not running (" + why + "); removed its state"));
            } else {
                err().println("hvctl: " + outcome.describe());
            }
        }

        /**
         * Removes the simulator's directory a simulated run ended by SIGKILL left (the simulator died
         * with it); one a live run holds stays. A failure is a warning: the VM itself is stopped.
         */
        private void removeSimulation(HvspiHost host, String vmId) {
            try {
                SimulationDir.removeLeftover(host.runtimeRoot(), vmId);
            } catch (io.hvspi.spi.HvspiException e) {
                err().println("hvctl: warning: VM " + vmId + ": " + e.getMessage());
            }
        }
    }

    /** Creation times as people read them: UTC, to the second (records keep nanoseconds). */
    static String toSecond(Instant t) {
        return t.truncatedTo(ChronoUnit.SECONDS).toString();
    }

    static IOThreadChoice parseChoice(String choice) {
        return switch (choice) {
            case "policy" -> IOThreadChoice.byPolicy();
            case "none" -> IOThreadChoice.mainLoop();
            default -> choice.contains(",") ? IOThreadChoice.vqMapped(List.of(choice.split(",")))
                    : IOThreadChoice.named(choice);
        };
    }

    static long parseLong(String s) {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw new RequestRejectedException(RequestRejectedException.Reason.INVALID_ARGUMENT,
                    "expected a whole number, got '" + s + "'");
        }
    }
}
