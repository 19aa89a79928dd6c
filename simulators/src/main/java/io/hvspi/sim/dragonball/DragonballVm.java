package io.hvspi.sim.dragonball;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.sim.Taps;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * One Dragonball VMM with its single VM: the state machine and the rules of
 * Dragonball's {@code VmmService} ({@code api/v1/vmm_action.rs}) and
 * {@code BlockDeviceMgr} ({@code device_manager/blk_dev_mgr.rs}), answering with
 * their error variants and display texts. No guest runs: a simulated guest
 * acknowledges every hotplug upcall while the vCPUs run.
 *
 * <p>Not thread-safe; the simulator runs every action on its one {@code vmm_master}
 * thread, as Dragonball does.
 */
final class DragonballVm {
    /** Actions this model knows, in the order the protocol document lists them. */
    static final List<String> ACTIONS = List.of(
            "ConfigureBootSource", "SetVmConfiguration", "GetVmConfiguration", "StartMicroVm", "PauseMicroVm",
            "ResumeMicroVm", "ShutdownMicroVm", "InsertBlockDevice", "PrepareRemoveBlockDevice",
            "RemoveBlockDevice", "InsertNetworkDevice", "RemoveNetworkDevice", "GetInstanceInfo", "ListThreads");

    /** Dragonball's {@code dbs_boot::layout::CMDLINE_MAX_SIZE} on x86_64. */
    static final int CMDLINE_MAX_SIZE = 0x10000;
    /** {@code MAX_SUPPORTED_VCPUS}. */
    static final int MAX_SUPPORTED_VCPUS = 254;
    /** Dragonball's default command line when {@code boot_args} is absent. */
    static final String DEFAULT_KERNEL_CMDLINE = "reboot=k panic=1 pci=off nomodules 8250.nr_uarts=0 "
            + "i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd";
    private static final int FIRST_HOTPLUG_SLOT = 1;
    private static final int LAST_HOTPLUG_SLOT = 31;

    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    /** Dragonball's {@code InstanceState}, without the states the simulator never enters. */
    enum InstanceState { Uninitialized, Running, Paused, Exited }

    private final String instanceId;
    private final String vmmVersion;
    private final long pid;
    private final long masterTid;
    private final int upcallNotReadyAfterStart;

    private InstanceState state = InstanceState.Uninitialized;
    private BootSource bootSource;
    private VmConfig vmConfig = VmConfig.DEFAULT;
    private final List<Drive> drives = new ArrayList<>();
    private final List<NetConfig> nets = new ArrayList<>();
    private final List<SimThread> vcpus = new ArrayList<>();
    private final Set<Integer> usedSlots = new TreeSet<>();
    private int upcallNotReadyLeft;
    /** Hotplug requests that needed the guest's upcall channel, answered or refused. */
    private int upcallRequests;

    DragonballVm(String instanceId, String vmmVersion, long pid, long masterTid, int upcallNotReadyAfterStart) {
        this.instanceId = instanceId;
        this.vmmVersion = vmmVersion;
        this.pid = pid;
        this.masterTid = masterTid;
        this.upcallNotReadyAfterStart = upcallNotReadyAfterStart;
    }

    InstanceState state() {
        return state;
    }

    List<String> driveIds() {
        return drives.stream().map(d -> d.config.driveId).toList();
    }

    /** Runs one action; the result is the response's {@code result} member. */
    JsonNode handle(String action, JsonNode config) throws ActionError {
        switch (action) {
            case "ConfigureBootSource":
                return configureBootSource(config);
            case "SetVmConfiguration":
                return setVmConfiguration(config);
            case "InsertBlockDevice":
                return insertBlockDevice(BlockConfig.read(config));
            case "PrepareRemoveBlockDevice":
                return prepareRemove(driveId(action, config));
            case "RemoveBlockDevice":
                return remove(driveId(action, config));
            case "InsertNetworkDevice":
                return insertNetworkDevice(NetConfig.read(config));
            case "RemoveNetworkDevice":
                return removeNetworkDevice(ifaceId(action, config));
            default:
                break;
        }
        if (config != null && !config.isNull() && !(config.isObject() && config.isEmpty())) {
            throw Fields.invalid(action + " takes no config");
        }
        return switch (action) {
            case "GetVmConfiguration" -> vmConfig.toJson();
            case "StartMicroVm" -> startMicroVm();
            case "PauseMicroVm" -> pause();
            case "ResumeMicroVm" -> resume();
            case "ShutdownMicroVm" -> shutdown();
            case "GetInstanceInfo" -> instanceInfo();
            case "ListThreads" -> threads();
            default -> throw ActionError.bridge("UnknownAction",
                    "unknown action '" + action + "' (known: " + String.join(", ", ACTIONS) + ")");
        };
    }

    /** Ends every simulated thread (the VMM process is going away). */
    void terminate() {
        state = InstanceState.Exited;
        vcpus.forEach(SimThread::stop);
        vcpus.clear();
        drives.forEach(Drive::stopThreads);
    }

    // --- lifecycle -------------------------------------------------------------------------------------------

    private JsonNode configureBootSource(JsonNode config) throws ActionError {
        Fields f = Fields.of("ConfigureBootSource", config);
        String kernel = f.requiredString("kernel_path");
        Optional<String> initrd = f.optionalString("initrd_path");
        Optional<String> bootArgs = f.optionalString("boot_args");
        f.done();
        if (state != InstanceState.Uninitialized) {
            throw ActionError.bootSource("UpdateNotAllowedPostBoot", "the update operation is not allowed after boot");
        }
        Optional<String> kernelError = openForRead(kernel);
        if (kernelError.isPresent()) {
            throw ActionError.bootSource("InvalidKernelPath",
                    "the kernel file cannot be opened due to invalid kernel path or invalid permissions: "
                            + kernelError.get());
        }
        if (initrd.isPresent()) {
            Optional<String> err = openForRead(initrd.get());
            if (err.isPresent()) {
                throw ActionError.bootSource("InvalidInitrdPath",
                        "the initrd file cannot be opened due to invalid path or invalid permissions: " + err.get());
            }
        }
        String args = bootArgs.orElse(DEFAULT_KERNEL_CMDLINE);
        if (!args.chars().allMatch(c -> c >= ' ' && c <= '~')) {
            throw ActionError.bootSource("InvalidKernelCommandLine",
                    "the kernel command line is invalid: String contains a non-printable ASCII character.");
        }
        if (args.length() + 1 > CMDLINE_MAX_SIZE) {
            throw ActionError.bootSource("InvalidKernelCommandLine",
                    "the kernel command line is invalid: Inserting string would make command line too long.");
        }
        bootSource = new BootSource(kernel, initrd, args);
        return NullNode.getInstance();
    }

    private JsonNode setVmConfiguration(JsonNode config) throws ActionError {
        VmConfig asked = VmConfig.read(config);
        if (state != InstanceState.Uninitialized) {
            throw ActionError.machineConfig("UpdateNotAllowedPostBoot", "update operation is not allowed after boot");
        }
        int vcpuCount = vmConfig.vcpuCount;
        if (vcpuCount != asked.vcpuCount) {
            if (asked.vcpuCount == 0) {
                throw ActionError.machineConfig("InvalidVcpuCount", "the vCPU number '0' can only be 1 or an even "
                        + "number when hyperthreading is enabled");
            }
            vcpuCount = asked.vcpuCount;
        }
        int[] topology;
        if (!Arrays.equals(vmConfig.topology, asked.topology)) {
            topology = checkTopology(asked.topology, vcpuCount);
        } else {
            topology = new int[] {1, Math.max(vcpuCount, asked.maxVcpuCount), 1, 1};
        }
        int maxFromTopology = topology[0] * topology[1] * topology[2] * topology[3];
        int maxVcpuCount = asked.maxVcpuCount;
        if (maxVcpuCount < vcpuCount) {
            throw ActionError.machineConfig("InvalidMaxVcpuCount", "the max vCPU number '" + maxVcpuCount
                    + "' shouldn't less than vCPU count and can only be 1 or an even number when hyperthreading "
                    + "is enabled");
        }
        if (maxFromTopology != maxVcpuCount) {
            maxVcpuCount = maxFromTopology;
        }
        long mem = asked.memSizeMib;
        if (mem == 0 || mem > 0x10_0000 || mem % 2 != 0) {
            throw ActionError.machineConfig("InvalidMemorySize", "the memory size 0x" + Long.toHexString(mem)
                    + "MiB is invalid");
        }
        if (asked.memType.equals("hugetlbfs") && asked.memFilePath.isEmpty()) {
            throw ActionError.machineConfig("InvalidMemFilePath", "the memory file path is invalid");
        }
        vmConfig = new VmConfig(vcpuCount, maxVcpuCount, asked.cpuPm, topology, asked.vpmuFeature, asked.memType,
                asked.memFilePath, mem, asked.serialPath, asked.pciHotplugEnabled);
        return NullNode.getInstance();
    }

    private static int[] checkTopology(int[] t, int vcpuCount) throws ActionError {
        if (t[0] < 1 || t[0] > 2) {
            throw ActionError.machineConfig("InvalidThreadsPerCore", "the threads_per_core number '" + t[0]
                    + "' can only be 1 or 2");
        }
        long product = (long) t[0] * t[1] * t[2] * t[3];
        if (product > MAX_SUPPORTED_VCPUS) {
            throw ActionError.machineConfig("VcpuCountExceedsMaximum", "the vCPU number shouldn't large than "
                    + MAX_SUPPORTED_VCPUS);
        }
        if (product < vcpuCount) {
            throw ActionError.machineConfig("InvalidCpuTopology", "the max vcpu count inferred from cpu topology '"
                    + product + "' (threads_per_core * cores_per_die * dies_per_socket * sockets) should be larger "
                    + "or equal to vcpu_count");
        }
        return t;
    }

    private JsonNode startMicroVm() throws ActionError {
        if (state != InstanceState.Uninitialized) {
            throw ActionError.startMicroVm("MicroVMAlreadyRunning", "the virtual machine is already running");
        }
        if (bootSource == null) {
            throw ActionError.startMicroVm("MissingKernelConfig",
                    "cannot start the virtual machine without kernel configuration");
        }
        for (int i = 0; i < vmConfig.vcpuCount; i++) {
            vcpus.add(SimThread.start("db_vcpu" + i));
        }
        // Cold-plugged drives get their queue threads when the (simulated) guest driver activates them.
        for (Drive d : drives) {
            d.slot = d.config.usePciBus.orElse(false) ? Optional.of(allocateSlot()) : Optional.empty();
            d.startThreads();
        }
        upcallNotReadyLeft = upcallNotReadyAfterStart;
        state = InstanceState.Running;
        return NullNode.getInstance();
    }

    // VmmAction::PauseMicroVm/ResumeMicroVm: Vm::pause_all_vcpus_with_downtime / resume_all_vcpus_with_downtime.
    // Only a VM without vCPUs yet (not started) is refused; pausing a paused VM, or resuming a running one,
    // is not.
    private JsonNode pause() throws ActionError {
        if (state == InstanceState.Uninitialized) {
            throw ActionError.pauseMicroVm("VcpuManagerNotInitialized", "vcpu manager is not initialized");
        }
        state = InstanceState.Paused;
        return NullNode.getInstance();
    }

    private JsonNode resume() throws ActionError {
        if (state == InstanceState.Uninitialized) {
            throw ActionError.resumeMicroVm("VcpuManagerNotInitialized", "vcpu manager is not initialized");
        }
        state = InstanceState.Running;
        return NullNode.getInstance();
    }

    private JsonNode shutdown() {
        terminate();
        return NullNode.getInstance();
    }

    // --- block devices ---------------------------------------------------------------------------------------

    private JsonNode insertBlockDevice(BlockConfig config) throws ActionError {
        boolean hotplug = state != InstanceState.Uninitialized;
        if (hotplug) {
            checkUpcall();
        }
        int index = indexOf(config.driveId);
        if (index >= 0) {
            if (hotplug) {
                // Dragonball has no runtime update; it reports a known drive id as a path conflict.
                throw pathExists(config.pathOnHost);
            }
            for (int i = 0; i < drives.size(); i++) {
                if (i != index) {
                    checkConflicts(drives.get(i).config, config);
                }
            }
            update(index, config);
            return slotResult(Optional.empty());
        }
        for (Drive d : drives) {
            checkConflicts(d.config, config);
        }
        if (!config.deviceType.equals("RawBlock")) {
            // vhost-user-blk (Spool, Spdk) needs a feature the simulated build lacks.
            throw ActionError.block("InvalidBlockDeviceType", "invalid block device type");
        }
        Drive drive = create(config);
        if (!hotplug) {
            return slotResult(drive.slot);
        }
        Optional<String> openError = openBacking(config);
        if (openError.isPresent()) {
            // create_blk_device opens the file after create() recorded the drive, and nothing removes the entry
            // on its error: a retry of the id is a path conflict until RemoveBlockDevice
            throw ActionError.block("Virtio", "IO: " + openError.get() + ".");
        }
        if (config.usePciBus.orElse(false)) {
            if (!vmConfig.pciHotplugEnabled) {
                // insert_hotplug_pci_device refuses it, and the drive's cleanup removes the entry again
                drives.remove(drive);
                throw ActionError.block("DeviceManager", "device manager errors: invalid device manager operation");
            }
            drive.slot = Optional.of(allocateSlot());
        }
        drive.startThreads();
        // the upcall's callback sends the slot it starts from, 0, for an MMIO drive
        return slotResult(Optional.of(drive.slot.orElse(0)));
    }

    /**
     * The error {@code create_blk_device}'s open of the backing file gives (read, write unless read-only,
     * O_DIRECT when direct), as Rust's {@code io::Error} prints it; empty when it opens.
     */
    private static Optional<String> openBacking(BlockConfig config) {
        java.util.Set<java.nio.file.OpenOption> options = new java.util.HashSet<>();
        options.add(java.nio.file.StandardOpenOption.READ);
        if (!config.isReadOnly) {
            options.add(java.nio.file.StandardOpenOption.WRITE);
        }
        if (config.isDirect) {
            options.add(com.sun.nio.file.ExtendedOpenOption.DIRECT);
        }
        try (java.nio.channels.FileChannel ignored = java.nio.channels.FileChannel.open(Path.of(config.pathOnHost),
                options)) {
            return Optional.empty();
        } catch (java.nio.file.AccessDeniedException e) {
            return Optional.of("Permission denied (os error 13)");
        } catch (java.nio.file.NoSuchFileException e) {
            return Optional.of("No such file or directory (os error 2)");
        } catch (java.nio.file.FileSystemException e) {
            String reason = String.valueOf(e.getReason());
            return Optional.of(switch (reason) {
                case "Is a directory" -> "Is a directory (os error 21)";
                case "Invalid argument" -> "Invalid argument (os error 22)";
                default -> reason;
            });
        } catch (java.io.IOException | UnsupportedOperationException e) {
            return Optional.of(String.valueOf(e.getMessage()));
        }
    }

    int upcallRequests() {
        return upcallRequests;
    }

    private void checkUpcall() throws ActionError {
        upcallRequests++;
        // A paused guest cannot answer the hotplug upcall; a just-booted one has not connected it yet.
        if (state == InstanceState.Paused) {
            throw ActionError.upcallServerNotReady();
        }
        if (upcallNotReadyLeft > 0) {
            upcallNotReadyLeft--;
            throw ActionError.upcallServerNotReady();
        }
    }

    private static void checkConflicts(BlockConfig existing, BlockConfig asked) throws ActionError {
        if (!existing.driveId.equals(asked.driveId) && existing.pathOnHost.equals(asked.pathOnHost)) {
            throw pathExists(asked.pathOnHost);
        }
    }

    private Drive create(BlockConfig config) throws ActionError {
        checkDataFilePresent(config);
        if (drives.stream().anyMatch(d -> d.config.pathOnHost.equals(config.pathOnHost))) {
            throw pathExists(config.pathOnHost);
        }
        Drive drive = new Drive(config);
        if (config.isRootDevice) {
            if (hasRoot()) {
                throw ActionError.block("RootBlockDeviceAlreadyAdded", "could not add multiple virtual machine root devices");
            }
            drives.add(0, drive); // the root device is always first
        } else {
            drives.add(drive);
        }
        return drive;
    }

    private void update(int index, BlockConfig config) throws ActionError {
        checkDataFilePresent(config);
        for (int i = 0; i < drives.size(); i++) {
            if (i != index && drives.get(i).config.pathOnHost.equals(config.pathOnHost)) {
                throw pathExists(config.pathOnHost);
            }
        }
        Drive drive = drives.get(index);
        if (!drive.config.isRootDevice && config.isRootDevice) {
            if (hasRoot()) {
                throw ActionError.block("RootBlockDeviceAlreadyAdded", "could not add multiple virtual machine root devices");
            }
            drives.remove(index);
            drives.add(0, drive);
        }
        drive.config = config;
    }

    private boolean hasRoot() {
        return drives.stream().anyMatch(d -> d.config.isRootDevice);
    }

    private static void checkDataFilePresent(BlockConfig config) throws ActionError {
        if (config.deviceType.equals("RawBlock") && !Files.exists(Path.of(config.pathOnHost))) {
            throw ActionError.block("InvalidBlockDevicePath", "invalid block device path '" + config.pathOnHost + "'");
        }
    }

    private JsonNode prepareRemove(String driveId) throws ActionError {
        Drive drive = find(driveId);
        if (state != InstanceState.Uninitialized) {
            checkUpcall();
        }
        drive.prepared = true;
        return NullNode.getInstance();
    }

    private JsonNode remove(String driveId) throws ActionError {
        // Like Dragonball before PrepareRemoveBlockDevice existed, an unprepared drive is removed too.
        Drive drive = find(driveId);
        drives.remove(drive);
        drive.stopThreads();
        drive.slot.ifPresent(usedSlots::remove);
        return NullNode.getInstance();
    }

    private Drive find(String driveId) throws ActionError {
        int index = indexOf(driveId);
        if (index < 0) {
            throw ActionError.block("InvalidDeviceId", "invalid block device id '" + driveId + "'");
        }
        return drives.get(index);
    }

    private int indexOf(String driveId) {
        for (int i = 0; i < drives.size(); i++) {
            if (drives.get(i).config.driveId.equals(driveId)) {
                return i;
            }
        }
        return -1;
    }

    private int allocateSlot() throws ActionError {
        for (int slot = FIRST_HOTPLUG_SLOT; slot <= LAST_HOTPLUG_SLOT; slot++) {
            if (usedSlots.add(slot)) {
                return slot;
            }
        }
        throw ActionError.block("DeviceManager", "device manager errors: no free PCI slot on the root bus");
    }

    private static ActionError pathExists(String path) {
        return ActionError.block("BlockDevicePathAlreadyExists", "block device path '" + path + "' already exists");
    }

    private static ObjectNode slotResult(Optional<Integer> slot) {
        ObjectNode result = JSON.objectNode();
        if (slot.isPresent()) {
            result.put("slot", slot.get());
        } else {
            result.putNull("slot");
        }
        return result;
    }

    private static String driveId(String action, JsonNode config) throws ActionError {
        Fields f = Fields.of(action, config);
        String id = f.requiredString("drive_id");
        f.done();
        return id;
    }

    // --- network devices --------------------------------------------------------------------------------------

    /**
     * {@code VirtioNetDeviceMgr::insert_device}: an odd queue count is refused, a known
     * {@code iface_id} updates the entry before start, the others are checked for a clashing
     * MAC or host device; after start the device is created (the tap opened) and hotplugged
     * through the guest's upcall, and a failed creation leaves no entry.
     */
    private JsonNode insertNetworkDevice(NetConfig config) throws ActionError {
        boolean hotplug = state != InstanceState.Uninitialized;
        if (hotplug) {
            checkUpcall(); // create_device_op_context, before the manager sees the config
        }
        if (config.ifaceId.isEmpty()) {
            throw ActionError.net("MissingIfaceId", "no iface id supplied for the network device");
        }
        // no InvalidQueueNum: for the virtio backend num_queues() is always the default pair
        int index = netIndexOf(config.ifaceId);
        if (index >= 0 && hotplug) {
            // insert_or_update would replace a running device's entry; the simulator refuses instead
            throw ActionError.net("DeviceIDAlreadyExist", "the device ID " + config.ifaceId + " already exists");
        }
        for (int i = 0; i < nets.size(); i++) {
            if (i != index) {
                checkNetConflicts(nets.get(i), config);
            }
        }
        if (hotplug) {
            Optional<String> tapError = Taps.open(config.hostDevName);
            if (tapError.isPresent()) {
                // create_virtio_net_device opens the tap: CreateNetDevice(VirtioError::IOError(..))
                throw ActionError.net("CreateNetDevice", "cannot create network device: " + tapError.get());
            }
        }
        if (index >= 0) {
            nets.set(index, config);
        } else {
            nets.add(config);
        }
        return NullNode.getInstance();
    }

    /**
     * {@code RemoveNetworkDevice}, a bridge action: the guest releases the device through the
     * upcall channel (as for a block device's prepare), then its entry goes.
     */
    private JsonNode removeNetworkDevice(String ifaceId) throws ActionError {
        int index = netIndexOf(ifaceId);
        if (index < 0) {
            throw ActionError.net("InvalidIfaceId", "invalid network iface id '" + ifaceId + "'");
        }
        if (state != InstanceState.Uninitialized) {
            checkUpcall();
        }
        nets.remove(index);
        return NullNode.getInstance();
    }

    private static void checkNetConflicts(NetConfig existing, NetConfig asked) throws ActionError {
        if (!existing.allowDuplicateMac && asked.guestMac.isPresent() && asked.guestMac.equals(existing.guestMac)) {
            throw ActionError.net("GuestMacAddressInUse", "the guest MAC address " + asked.guestMac.get()
                    + " is already in use");
        }
        if (existing.hostDevName.equals(asked.hostDevName)) {
            throw ActionError.net("HostDeviceNameInUse", "the host device name " + asked.hostDevName
                    + " is already in use");
        }
    }

    private int netIndexOf(String ifaceId) {
        for (int i = 0; i < nets.size(); i++) {
            if (nets.get(i).ifaceId.equals(ifaceId)) {
                return i;
            }
        }
        return -1;
    }

    List<String> netIds() {
        return nets.stream().map(NetConfig::ifaceId).toList();
    }

    private static String ifaceId(String action, JsonNode config) throws ActionError {
        Fields f = Fields.of(action, config);
        String id = f.requiredString("iface_id");
        f.done();
        return id;
    }

    // --- information -----------------------------------------------------------------------------------------

    private JsonNode instanceInfo() {
        ObjectNode info = JSON.objectNode();
        info.put("id", instanceId);
        if (state == InstanceState.Exited) {
            info.putObject("state").put("Exited", 0);
        } else {
            info.put("state", state.name());
        }
        info.put("vmm_version", vmmVersion);
        info.put("pid", pid);
        info.put("master_tid", masterTid);
        info.put("async_state", "Uninitialized");
        ArrayNode tids = info.putArray("tids");
        for (int i = 0; i < vcpus.size(); i++) {
            tids.addArray().add(i).add(vcpus.get(i).tid());
        }
        info.put("last_instance_downtime", 0);
        return info;
    }

    private JsonNode threads() {
        ObjectNode result = JSON.objectNode();
        result.put("pid", pid);
        ArrayNode list = result.putArray("threads");
        list.addObject().put("tid", masterTid).put("name", "vmm_master");
        for (SimThread t : vcpus) {
            list.addObject().put("tid", t.tid()).put("name", t.name());
        }
        for (Drive d : drives) {
            for (SimThread t : d.threads) {
                list.addObject().put("tid", t.tid()).put("name", t.name()).put("drive_id", d.config.driveId);
            }
        }
        return result;
    }

    /** The error text Rust prints for a failed {@code File::open}, or empty when the file opens. */
    private static Optional<String> openForRead(String path) {
        Path p = Path.of(path);
        try {
            if (Files.isDirectory(p)) {
                return Optional.empty(); // Rust opens directories for reading too
            }
            Files.newInputStream(p).close();
            return Optional.empty();
        } catch (NoSuchFileException e) {
            return Optional.of("No such file or directory (os error 2)");
        } catch (AccessDeniedException e) {
            return Optional.of("Permission denied (os error 13)");
        } catch (IOException e) {
            return Optional.of(e.getMessage());
        }
    }

    // --- value types -----------------------------------------------------------------------------------------

    private record BootSource(String kernelPath, Optional<String> initrdPath, String bootArgs) {}

    /** Dragonball's {@code VmConfigInfo}, with its defaults. */
    private record VmConfig(int vcpuCount, int maxVcpuCount, String cpuPm, int[] topology, int vpmuFeature,
                            String memType, String memFilePath, long memSizeMib, Optional<String> serialPath,
                            boolean pciHotplugEnabled) {
        static final VmConfig DEFAULT = new VmConfig(1, 1, "on", new int[] {1, 1, 1, 1}, 0, "shmem", "", 128,
                Optional.empty(), false);

        static VmConfig read(JsonNode config) throws ActionError {
            Fields f = Fields.of("SetVmConfiguration", config);
            int vcpu = (int) f.unsigned("vcpu_count", DEFAULT.vcpuCount, 255);
            int max = (int) f.unsigned("max_vcpu_count", DEFAULT.maxVcpuCount, 255);
            String cpuPm = f.string("cpu_pm", DEFAULT.cpuPm);
            int[] topology = DEFAULT.topology.clone();
            Optional<Fields> t = f.optionalObject("cpu_topology");
            if (t.isPresent()) {
                Fields tf = t.get();
                topology = new int[] {
                        (int) tf.unsigned("threads_per_core", 1, 255), (int) tf.unsigned("cores_per_die", 1, 255),
                        (int) tf.unsigned("dies_per_socket", 1, 255), (int) tf.unsigned("sockets", 1, 255)};
                tf.done();
            }
            int vpmu = (int) f.unsigned("vpmu_feature", 0, 255);
            String memType = f.string("mem_type", DEFAULT.memType);
            String memFilePath = f.string("mem_file_path", DEFAULT.memFilePath);
            long mem = f.unsigned("mem_size_mib", DEFAULT.memSizeMib, Long.MAX_VALUE);
            Optional<String> serial = f.optionalString("serial_path");
            boolean pci = f.bool("pci_hotplug_enabled", false);
            f.done();
            return new VmConfig(vcpu, max, cpuPm, topology, vpmu, memType, memFilePath, mem, serial, pci);
        }

        JsonNode toJson() {
            ObjectNode n = JSON.objectNode();
            n.put("vcpu_count", vcpuCount).put("max_vcpu_count", maxVcpuCount).put("cpu_pm", cpuPm);
            n.putObject("cpu_topology").put("threads_per_core", topology[0]).put("cores_per_die", topology[1])
                    .put("dies_per_socket", topology[2]).put("sockets", topology[3]);
            n.put("vpmu_feature", vpmuFeature).put("mem_type", memType).put("mem_file_path", memFilePath)
                    .put("mem_size_mib", memSizeMib);
            if (serialPath.isPresent()) {
                n.put("serial_path", serialPath.get());
            } else {
                n.putNull("serial_path");
            }
            n.put("pci_hotplug_enabled", pciHotplugEnabled);
            return n;
        }
    }

    /** Dragonball's {@code BlockDeviceConfigInfo}, with its defaults. */
    private record BlockConfig(String driveId, String deviceType, String pathOnHost, boolean isRootDevice,
                               Optional<String> partUuid, boolean isReadOnly, boolean isDirect, boolean noDrop,
                               boolean sparse, int numQueues, int queueSize, JsonNode rateLimiter,
                               Optional<Boolean> useSharedIrq, Optional<Boolean> useGenericIrq,
                               Optional<Boolean> usePciBus) {
        static final Set<String> DEVICE_TYPES = Set.of("Unknown", "Spool", "Spdk", "RawBlock");

        static BlockConfig read(JsonNode config) throws ActionError {
            Fields f = Fields.of("InsertBlockDevice", config);
            String id = f.requiredString("drive_id");
            String type = f.string("device_type", "RawBlock");
            if (!DEVICE_TYPES.contains(type)) {
                throw Fields.invalid("InsertBlockDevice: field 'device_type' must be one of RawBlock, Spool, Spdk, "
                        + "Unknown, got '" + type + "'");
            }
            BlockConfig c = new BlockConfig(id, type, f.requiredString("path_on_host"), f.bool("is_root_device", false),
                    f.optionalString("part_uuid"), f.bool("is_read_only", false), f.bool("is_direct", true),
                    f.bool("no_drop", false), f.bool("sparse", false), (int) f.unsigned("num_queues", 1, 1024),
                    (int) f.unsigned("queue_size", 256, 65535), f.raw("rate_limiter"), f.optionalBool("use_shared_irq"),
                    f.optionalBool("use_generic_irq"), f.optionalBool("use_pci_bus"));
            f.done();
            return c;
        }
    }

    /** The bridge's {@code VirtioNetDeviceConfigInfo}, as a virtio backend takes it (0 size: Dragonball's default). */
    private record NetConfig(String ifaceId, String hostDevName, int numQueues, int queueSize,
                             Optional<String> guestMac, JsonNode rxRateLimiter, JsonNode txRateLimiter,
                             boolean allowDuplicateMac, Optional<Boolean> useSharedIrq,
                             Optional<Boolean> useGenericIrq) {
        private static final java.util.regex.Pattern MAC =
                java.util.regex.Pattern.compile("[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}");

        static NetConfig read(JsonNode config) throws ActionError {
            Fields f = Fields.of("InsertNetworkDevice", config);
            String id = f.requiredString("iface_id");
            String host = f.requiredString("host_dev_name");
            f.unsigned("num_queues", 0, 1024); // checked as the type is; the virtio backend ignores it
            int size = (int) f.unsigned("queue_size", 0, 65535);
            Optional<String> mac = f.optionalString("guest_mac");
            if (mac.isPresent() && !MAC.matcher(mac.get()).matches()) {
                // MacAddr's deserializer refuses it: six hex octets separated by ':'
                throw Fields.invalid("InsertNetworkDevice: field 'guest_mac' is not a MAC address: '" + mac.get() + "'");
            }
            // the sidecar gives Dragonball a virtio backend, whose queue count is always the default pair
            NetConfig c = new NetConfig(id, host, 2, size == 0 ? 256 : size,
                    mac.map(m -> m.toLowerCase(java.util.Locale.ROOT)), f.raw("rx_rate_limiter"),
                    f.raw("tx_rate_limiter"), f.bool("allow_duplicate_mac", false), f.optionalBool("use_shared_irq"),
                    f.optionalBool("use_generic_irq"));
            f.done();
            return c;
        }
    }

    private static final class Drive {
        BlockConfig config;
        Optional<Integer> slot = Optional.empty();
        boolean prepared;
        final List<SimThread> threads = new ArrayList<>();

        Drive(BlockConfig config) {
            this.config = config;
        }

        void startThreads() {
            // Dragonball's virtio-blk spawns one epoll handler per queue, all named blk_iothread_q<i>.
            for (int i = 0; i < config.numQueues; i++) {
                threads.add(SimThread.start("blk_iothread_q" + i));
            }
        }

        void stopThreads() {
            threads.forEach(SimThread::stop);
            threads.clear();
        }
    }
}
