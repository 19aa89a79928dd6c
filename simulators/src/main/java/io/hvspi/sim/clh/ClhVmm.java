package io.hvspi.sim.clh;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.hvspi.sim.Taps;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.BitSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.IntStream;

/**
 * The VMM behind the simulated API: one VM's configuration, its run state, its
 * PCI slots and devices, and the threads the real VMM would run. Each method is
 * one API action, named after Cloud Hypervisor's {@code RequestHandler}, and
 * answers with the status and error chain the real VMM gives (v48 to v52:
 * every refused action is 500 with a JSON array of messages). Where v51.1's VMM
 * thread panics, the answer is {@link ApiReply#vmmPanicked()}, after which the
 * simulator stops serving as the real process exits.
 *
 * <p>Calls are serialized, as the real VMM handles API requests one at a time
 * on its VMM thread.
 */
final class ClhVmm {
    private static final ObjectMapper JSON = new ObjectMapper();
    // Cloud Hypervisor's PCI segment 0 has 32 slots; slot 0 is the host bridge
    private static final int PCI_SLOTS = 32;
    private static final int MINIMUM_BLOCK_QUEUE_SIZE = 2;
    // virtio_devices::net::MIN_MTU
    private static final int MINIMUM_MTU = 1280;

    // virtio-pci's capability BAR (CAPABILITY_BAR_SIZE in virtio-devices' pci_device.rs)
    private static final long CAPABILITY_BAR_SIZE = 0x80000;
    // virtio_queue::Queue::new refuses more than this, and sizes that are not powers of two
    private static final int MAX_QUEUE_SIZE = 32768;

    /**
     * A booted VM (Cloud Hypervisor's {@code Vm}): its state, PCI slots, devices (by id, in creation
     * order), vCPU threads, and the device manager's name counter and boot id list, both new with each Vm.
     */
    private static final class Running {
        String state = "Running";
        final BitSet slots = new BitSet(PCI_SLOTS);
        final Map<String, Device> devices = new LinkedHashMap<>();
        final Set<String> bootIds = new HashSet<>();
        int nextDeviceIndex;
        SimulatedThreads vcpus;
    }

    /** The virtio device types the simulator makes, as {@code VirtioDeviceType} prints them. */
    private enum Kind {
        BLOCK, NET, CONSOLE, RNG;

        String display() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** A PCI device of a booted VM, with its queue worker threads (for disks). */
    private record Device(String id, Kind kind, int slot, Optional<SimulatedThreads> workers, Optional<Instant> ejectAt) {
        String bdf() {
            return String.format("0000:00:%02x.0", slot);
        }

        Device ejecting(Instant at) {
            return new Device(id, kind, slot, workers, Optional.of(at));
        }
    }

    private final ClhApiSpec spec;
    private final ClhSimulator.Options options;
    private ObjectNode config;
    private Running vm;
    // pre_create_console_devices' result; vm.shutdown drops it and vm.boot opens the files again
    private boolean consolesOpen;

    ClhVmm(ClhApiSpec spec, ClhSimulator.Options options) {
        this.spec = spec;
        this.options = options;
    }

    synchronized ApiReply ping() {
        ObjectNode pong = JSON.createObjectNode()
                .put("build_version", options.buildVersion())
                .put("version", options.version())
                .put("pid", ProcessHandle.current().pid());
        pong.putArray("features").add("kvm").add("io_uring");
        return ApiReply.ok(pong);
    }

    /**
     * Stores the configuration, then opens the console files ({@code vm_create}: the
     * configuration is kept even when they cannot be opened, so the VM is then created and
     * a second {@code vm.create} is "VM is already created"). Not validated here: that
     * happens at boot and on every device add.
     */
    synchronized ApiReply create(ObjectNode body) {
        if (config != null) {
            return ApiReply.apiError("The VM could not be created", "VM is already created");
        }
        // serde's #[serde(default)] structs for the members the document gives no default for
        if (!body.has("cpus")) {
            body.putObject("cpus").put("boot_vcpus", 1).put("max_vcpus", 1);
        }
        if (!body.has("memory")) {
            body.putObject("memory").put("size", 512L << 20);
        }
        spec.fillDefaults("VmConfig", body);
        config = body;
        return openConsoles().map(e -> ApiReply.apiError(concat("The VM could not be created", e)))
                .orElseGet(ApiReply::noContent);
    }

    /**
     * Boots the VM as {@code vm_boot} does: the console files opened again when a shutdown
     * closed them, a new {@code Vm} (configuration validated, device name counter at 0),
     * devices made (disk files opened) and put on PCI. A paused VM is resumed instead.
     */
    synchronized ApiReply boot() {
        if (config == null) {
            return ApiReply.apiError("The VM could not boot", "VM config is missing");
        }
        Optional<List<String>> consoleError = consolesOpen ? Optional.empty() : openConsoles();
        if (consoleError.isPresent()) {
            return ApiReply.apiError(concat("The VM could not boot", consoleError.get()));
        }
        if (vm != null) {
            if ("Paused".equals(vm.state)) {
                vm.state = "Running"; // Vm::boot resumes a paused VM
                reapEjected();
                return ApiReply.noContent();
            }
            return ApiReply.apiError("The VM could not boot",
                    "invalid VM state transition: " + vm.state + " to Running");
        }
        Optional<List<String>> invalid = validate(config);
        if (invalid.isPresent()) {
            return ApiReply.apiError(concat("The VM could not boot", concat("Failed to validate config", invalid.get())));
        }
        JsonNode payload = config.path("payload");
        for (String member : options.checkBootFiles() ? List.of("kernel", "firmware", "initramfs") : List.<String>of()) {
            if (payload.hasNonNull(member)) {
                Optional<String> error = openForRead(Path.of(payload.get(member).asText()));
                if (error.isPresent()) {
                    return ApiReply.apiError("The VM could not boot",
                            "Cannot open " + ("initramfs".equals(member) ? "initramfs" : "kernel") + " file", error.get());
                }
            }
        }
        for (JsonNode disk : options.checkBootFiles() ? config.path("disks") : JSON.createArrayNode()) {
            Optional<String> error = openDisk(disk);
            if (error.isPresent()) {
                return ApiReply.apiError("The VM could not boot", "Error from device manager", error.get());
            }
        }
        Running booting = new Running();
        booting.slots.set(0);
        collectIds(config, booting.bootIds);
        // every device is made (ids given, files opened) before any is put on PCI, where Queue::new panics
        for (String list : List.of("disks", "net")) {
            for (JsonNode device : config.path(list)) {
                if (!validQueueSize(device.path("queue_size").asInt())) {
                    return ApiReply.vmmPanicked();
                }
            }
        }
        // virtio devices in the order Cloud Hypervisor's device manager creates them
        if (!"Off".equals(config.path("console").path("mode").asText("Tty"))) {
            addDevice(booting, "__console", Kind.CONSOLE, 0);
        }
        for (JsonNode disk : config.withArray("disks")) {
            addDevice(booting, assignId(booting, (ObjectNode) disk, "_disk"), Kind.BLOCK, disk.path("num_queues").asInt(1));
        }
        for (JsonNode net : config.withArray("net")) {
            addDevice(booting, assignId(booting, (ObjectNode) net, "_net"), Kind.NET, 0);
        }
        addDevice(booting, "__rng", Kind.RNG, 0);
        booting.vcpus = SimulatedThreads.start(IntStream.range(0, bootVcpus()).mapToObj(i -> "vcpu" + i).toList());
        vm = booting;
        return ApiReply.noContent();
    }

    synchronized ApiReply pause() {
        reapEjected();
        if (vm == null) {
            return ApiReply.apiError("The VM could not be paused", "VM is not running");
        }
        if (!"Running".equals(vm.state)) {
            return ApiReply.apiError("The VM could not be paused", "Cannot pause VM",
                    "invalid VM state transition: " + vm.state + " to Paused");
        }
        vm.state = "Paused";
        return ApiReply.noContent();
    }

    synchronized ApiReply resume() {
        reapEjected();
        if (vm == null) {
            return ApiReply.apiError("The VM could not resume", "VM is not running");
        }
        if (!"Paused".equals(vm.state)) {
            return ApiReply.apiError("The VM could not resume", "Cannot resume VM",
                    "invalid VM state transition: " + vm.state + " to Running");
        }
        vm.state = "Running";
        return ApiReply.noContent();
    }

    /** Stops the VM; its configuration stays, so {@code vm.info} then says Created and it can boot again. */
    synchronized ApiReply shutdown() {
        if (vm == null) {
            return ApiReply.apiError("The VM could not shutdown", "VM is not running");
        }
        stopVm();
        consolesOpen = false;
        return ApiReply.noContent();
    }

    synchronized ApiReply delete() {
        if (vm != null) {
            stopVm();
        }
        config = null;
        consolesOpen = false;
        return ApiReply.noContent();
    }

    synchronized ApiReply info() {
        reapEjected();
        if (config == null) {
            return ApiReply.apiError("The VM info is not available", "VM is not created");
        }
        ObjectNode info = JSON.createObjectNode();
        info.set("config", config.deepCopy());
        info.put("state", vm == null ? "Created" : vm.state);
        info.put("memory_actual_size", config.path("memory").path("size").asLong());
        if (vm != null) {
            ObjectNode tree = info.putObject("device_tree");
            for (Device d : vm.devices.values()) {
                // as add_virtio_pci_device links them: the transport node "_virtio-pci-<id>" holds the
                // address and the BAR and has the device as child; the device's node points up to it
                String transport = "_virtio-pci-" + d.id();
                ObjectNode node = tree.putObject(d.id()).put("id", d.id());
                node.putArray("resources");
                node.put("parent", transport);
                node.putArray("children");
                node.putNull("pci_bdf");
                ObjectNode pci = tree.putObject(transport).put("id", transport);
                // block devices get a 32-bit BAR on segment 0, the others a 64-bit one; the bases are the simulator's
                boolean bar32 = d.kind() == Kind.BLOCK;
                pci.putArray("resources").addObject().putObject("PciBar")
                        .put("index", 0)
                        .put("base", (bar32 ? 0xc000_0000L : 0x1_0000_0000_0000L) + d.slot() * CAPABILITY_BAR_SIZE)
                        .put("size", CAPABILITY_BAR_SIZE)
                        .put("type_", bar32 ? "Mmio32" : "Mmio64")
                        .put("prefetchable", false);
                pci.putNull("parent");
                pci.putArray("children").add(d.id());
                pci.put("pci_bdf", d.bdf());
            }
        }
        return ApiReply.ok(info);
    }

    synchronized ApiReply addDisk(ObjectNode disk) {
        reapEjected();
        String title = "The disk could not be added to the VM";
        if (config == null) {
            return ApiReply.apiError(title, "VM is not created");
        }
        spec.fillDefaults("DiskConfig", disk);
        // validated on a copy of the configuration with the disk added, as vm_add_disk does
        ObjectNode candidate = config.deepCopy();
        candidate.withArray("disks").add(disk);
        Optional<List<String>> invalid = validate(candidate);
        if (invalid.isPresent()) {
            return ApiReply.apiError(concat(title, concat("Failed to validate config", invalid.get())));
        }
        if (vm == null) {
            config.withArray("disks").add(disk); // no id given yet: the device manager names it at boot
            return ApiReply.noContent();
        }
        Optional<String> error = openDisk(disk);
        if (error.isPresent()) {
            return ApiReply.apiError(title, "Error from device manager", error.get());
        }
        if (vm.slots.nextClearBit(1) >= PCI_SLOTS) {
            return ApiReply.apiError(title, "Error from device manager", "Failed to find an available PCI device ID");
        }
        if (!validQueueSize(disk.path("queue_size").asInt())) {
            return ApiReply.vmmPanicked(); // Queue::new(size).unwrap() in VirtioPciDevice::new
        }
        Device added = addDevice(vm, assignId(vm, disk, "_disk"), Kind.BLOCK, disk.path("num_queues").asInt());
        config.withArray("disks").add(disk);
        return ApiReply.ok(JSON.createObjectNode().put("id", added.id()).put("bdf", added.bdf()));
    }

    /**
     * Adds a network device, as {@code vm_add_net} does: defaults filled in (a
     * random locally administered MAC when none is given), the configuration
     * validated with it, then on a booted VM the tap opened and a PCI slot taken.
     * 200 with {@code PciDeviceInfo} on a booted VM, 204 when cold-adding.
     */
    synchronized ApiReply addNet(ObjectNode net) {
        reapEjected();
        String title = "The network device could not be added to the VM";
        if (config == null) {
            return ApiReply.apiError(title, "VM is not created");
        }
        spec.fillDefaults("NetConfig", net);
        if (!net.hasNonNull("mac")) {
            // NetConfig's serde default: MacAddr::local_random()
            net.put("mac", Taps.randomLocalMac());
        }
        ObjectNode candidate = config.deepCopy();
        candidate.withArray("net").add(net);
        Optional<List<String>> invalid = validate(candidate);
        if (invalid.isPresent()) {
            return ApiReply.apiError(concat(title, concat("Failed to validate config", invalid.get())));
        }
        if (vm == null) {
            config.withArray("net").add(net);
            return ApiReply.noContent();
        }
        if (net.path("vhost_user").asBoolean(false)) {
            return ApiReply.apiError(title, "hvspi simulator: vhost-user network devices are not simulated");
        }
        if (!net.hasNonNull("tap")) {
            // with neither tap nor fds the real VMM creates a tap named vmtapN itself
            return ApiReply.apiError(title, "hvspi simulator: a network device without 'tap' is not simulated");
        }
        Optional<String> tapError = Taps.open(net.get("tap").asText());
        if (tapError.isPresent()) {
            return ApiReply.apiError(title, "Error from device manager", "Cannot create virtio-net device",
                    "Failed to open taps", "Open tap device failed", "Unable to configure tap interface",
                    tapError.get());
        }
        if (vm.slots.nextClearBit(1) >= PCI_SLOTS) {
            return ApiReply.apiError(title, "Error from device manager", "Failed to find an available PCI device ID");
        }
        if (!validQueueSize(net.path("queue_size").asInt())) {
            return ApiReply.vmmPanicked(); // Queue::new(size).unwrap() in VirtioPciDevice::new
        }
        Device added = addDevice(vm, assignId(vm, net, "_net"), Kind.NET, 0);
        config.withArray("net").add(net);
        return ApiReply.ok(JSON.createObjectNode().put("id", added.id()).put("bdf", added.bdf()));
    }

    /**
     * Removes a device. On a booted VM the real VMM only asks the guest to eject
     * it and answers at once, and {@code Vm::remove_device} takes it out of the
     * configuration then; it leaves {@code vm.info}'s device tree (and its threads
     * end) when the guest has ejected it, here after
     * {@link ClhSimulator.Options#ejectDelay()} of running (a paused guest ejects
     * nothing until it is resumed). A second removal of a network device before
     * that finds no configuration entry, and v51.1 panics there (an {@code unwrap}
     * in {@code DeviceManager::remove_device}): the VMM dies, as here. A second
     * removal of a disk is answered 204 again.
     */
    synchronized ApiReply removeDevice(String id) {
        reapEjected();
        String title = "The device could not be removed from the VM";
        if (config == null) {
            return ApiReply.apiError(title, "VM is not created");
        }
        if (vm == null) {
            if (!removeFromConfig(id)) {
                return ApiReply.apiError(title, "No device with id \"" + id + "\" to remove");
            }
            return ApiReply.noContent();
        }
        Device device = vm.devices.get(id);
        if (device == null) {
            return ApiReply.apiError(title, "Error from device manager",
                    "Failed to find device corresponding to the given identifier");
        }
        switch (device.kind()) {
            case CONSOLE, RNG -> {
                return ApiReply.apiError(title, "Error from device manager",
                        "Not allowed to remove this type of device from the VM: " + device.kind().display());
            }
            case NET -> {
                if (!inConfig("net", id)) {
                    return ApiReply.vmmPanicked(); // nets.iter_mut().find(..).unwrap() finds nothing
                }
            }
            case BLOCK -> { }
        }
        if (device.ejectAt().isEmpty()) {
            vm.devices.put(id, device.ejecting(Instant.now().plus(options.ejectDelay())));
        }
        removeFromConfig(id);
        reapEjected();
        return ApiReply.noContent();
    }

    /** {@code vmm.shutdown}: deletes the VM; the caller then stops serving, as the real process exits. */
    synchronized ApiReply shutdownVmm() {
        delete();
        return ApiReply.okEmpty();
    }

    /** Ends every simulated thread (used when the simulator closes). */
    synchronized void halt() {
        if (vm != null) {
            stopVm();
        }
    }

    // ---- internals

    private int bootVcpus() {
        return config.path("cpus").path("boot_vcpus").asInt(1);
    }

    private Device addDevice(Running running, String id, Kind kind, int queues) {
        int slot = running.slots.nextClearBit(1);
        running.slots.set(slot);
        Optional<SimulatedThreads> workers = queues == 0 ? Optional.empty()
                // the guest's driver activates the device at once, which starts one thread per queue
                : Optional.of(SimulatedThreads.start(IntStream.range(0, queues).mapToObj(q -> id + "_q" + q).toList()));
        Device device = new Device(id, kind, slot, workers, Optional.empty());
        running.devices.put(id, device);
        return device;
    }

    /**
     * The device's id, or one made as {@code next_device_name} makes it and written into the
     * device's configuration: {@code prefix} and one counter for every kind, skipping the ids
     * of the boot configuration and of the device tree.
     */
    private static String assignId(Running running, ObjectNode device, String prefix) {
        if (!device.hasNonNull("id")) {
            String id;
            do {
                id = prefix + running.nextDeviceIndex++;
            } while (running.bootIds.contains(id) || running.devices.containsKey(id));
            device.put("id", id);
        }
        return device.get("id").asText();
    }

    /** Completes the ejections that are due; only a running guest ejects (a paused one acts after resume). */
    private void reapEjected() {
        if (vm == null || !"Running".equals(vm.state)) {
            return;
        }
        Instant now = Instant.now();
        for (Device d : List.copyOf(vm.devices.values())) {
            if (d.ejectAt().isPresent() && !d.ejectAt().get().isAfter(now)) {
                d.workers().ifPresent(SimulatedThreads::stop);
                vm.devices.remove(d.id());
                vm.slots.clear(d.slot());
            }
        }
    }

    private static final List<String> DEVICE_LISTS = List.of("disks", "net", "fs", "pmem", "devices", "vdpa");

    private boolean removeFromConfig(String id) {
        boolean removed = false;
        for (String list : DEVICE_LISTS) {
            JsonNode items = config.get(list);
            if (items instanceof ArrayNode array) {
                for (int i = array.size() - 1; i >= 0; i--) {
                    if (id.equals(array.get(i).path("id").asText(null))) {
                        array.remove(i);
                        removed = true;
                    }
                }
            }
        }
        return removed;
    }

    private boolean inConfig(String list, String id) {
        for (JsonNode item : config.path(list)) {
            if (id.equals(item.path("id").asText(null))) {
                return true;
            }
        }
        return false;
    }

    private static void collectIds(JsonNode cfg, Set<String> ids) {
        for (String list : DEVICE_LISTS) {
            cfg.path(list).forEach(item -> {
                if (item.hasNonNull("id")) {
                    ids.add(item.get("id").asText());
                }
            });
        }
    }

    private void stopVm() {
        vm.devices.values().forEach(d -> d.workers().ifPresent(SimulatedThreads::stop));
        vm.vcpus.stop();
        vm = null;
    }

    /** What {@code virtio_queue::Queue::new} takes: a power of two, 1 to 32768. */
    private static boolean validQueueSize(int size) {
        return size > 0 && size <= MAX_QUEUE_SIZE && Integer.bitCount(size) == 1;
    }

    /**
     * {@code pre_create_console_devices}: the virtio console's file, then the serial port's, each
     * created or truncated ({@code File::create}); on failure the error chain under the API's title.
     */
    private Optional<List<String>> openConsoles() {
        for (String console : List.of("console", "serial")) {
            JsonNode c = config.path(console);
            if ("File".equals(c.path("mode").asText()) && c.hasNonNull("file")) {
                Optional<String> error = open(Path.of(c.get("file").asText()), StandardOpenOption.WRITE,
                        StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING);
                if (error.isPresent()) {
                    return Optional.of(List.of("Error creating console devices", "Error creating console device",
                            error.get()));
                }
            }
        }
        consolesOpen = true;
        return Optional.empty();
    }

    /** {@code first}, then {@code rest}: an error chain under one more message. */
    private static List<String> concat(String first, List<String> rest) {
        return java.util.stream.Stream.concat(java.util.stream.Stream.of(first), rest.stream()).toList();
    }

    /**
     * The parts of {@code VmConfig::validate} that concern what the simulator models, in its
     * order: the payload, console files, CPUs, disks, network devices; the error chain below
     * "Failed to validate config" (Display of the error and of its source).
     */
    private static Optional<List<String>> validate(JsonNode cfg) {
        JsonNode payload = cfg.path("payload");
        if (!payload.hasNonNull("kernel") && !payload.hasNonNull("firmware")) {
            return Optional.of(List.of("Payload configuration is not bootable",
                    "No bootitem provided: neither firmware nor kernel"));
        }
        if (payload.hasNonNull("kernel") && payload.hasNonNull("firmware")) {
            return Optional.of(List.of("Payload configuration is not bootable",
                    "Specifying a kernel is not supported when a firmware is provided"));
        }
        for (String console : List.of("console", "serial")) {
            if ("File".equals(cfg.path(console).path("mode").asText()) && !cfg.path(console).hasNonNull("file")) {
                return Optional.of(List.of("Path missing when using file console mode"));
            }
        }
        long boot = cfg.path("cpus").path("boot_vcpus").asLong(1);
        long max = cfg.path("cpus").path("max_vcpus").asLong(1);
        if (max < boot) {
            return Optional.of(List.of("Max CPUs (" + max + ") lower than boot CPUs (" + boot + ")"));
        }
        boolean sharedMemory = cfg.path("memory").path("shared").asBoolean(false)
                || cfg.path("memory").path("hugepages").asBoolean(false);
        // DiskConfig::validate and NetConfig::validate check the segment only when a platform is configured
        Optional<Integer> segments = cfg.path("platform").isObject()
                ? Optional.of(cfg.path("platform").path("num_pci_segments").asInt(1)) : Optional.empty();
        Set<String> ids = new HashSet<>();
        for (JsonNode disk : cfg.path("disks")) {
            Optional<String> bad = validateDisk(disk, boot, sharedMemory, segments, ids);
            if (bad.isPresent()) {
                return bad.map(List::of);
            }
        }
        for (JsonNode net : cfg.path("net")) {
            Optional<String> bad = validateNet(net, boot, sharedMemory, segments, ids);
            if (bad.isPresent()) {
                return bad.map(List::of);
            }
        }
        return Optional.empty();
    }

    private static Optional<String> validateDisk(JsonNode disk, long boot, boolean sharedMemory,
                                                 Optional<Integer> segments, Set<String> ids) {
        if (disk.hasNonNull("vhost_socket") && disk.hasNonNull("path")) {
            return Optional.of("Disk path and vhost socket both provided");
        }
        if (disk.path("vhost_user").asBoolean(false) && !sharedMemory) {
            return Optional.of("Using vhost-user requires using shared memory or huge pages");
        }
        if (disk.path("vhost_user").asBoolean(false) && !disk.hasNonNull("vhost_socket")) {
            return Optional.of("No socket provided when using vhost-user");
        }
        if (disk.hasNonNull("rate_limit_group")) {
            return Optional.of("Invalid rate-limiter group"); // the simulator models no rate_limit_groups
        }
        long queues = disk.path("num_queues").asLong(1);
        if (queues > boot) {
            return Optional.of("Queue count (" + queues + ") must not exceed boot vCPUs (" + boot + ")");
        }
        int queueSize = disk.path("queue_size").asInt(128);
        if (queueSize <= MINIMUM_BLOCK_QUEUE_SIZE) {
            return Optional.of("Queue size is smaller than " + MINIMUM_BLOCK_QUEUE_SIZE + ": " + queueSize);
        }
        if (disk.path("vhost_user").asBoolean(false) && disk.path("iommu").asBoolean(false)) {
            return Optional.of("Device does not support being placed behind IOMMU");
        }
        if (segments.isPresent() && disk.path("pci_segment").asInt(0) >= segments.get()) {
            return Optional.of("Invalid PCI segment id: " + disk.path("pci_segment").asInt());
        }
        if (disk.hasNonNull("serial") && disk.get("serial").asText().length() > 20) {
            return Optional.of("Block device serial length (" + disk.get("serial").asText().length()
                    + ") exceeds maximum allowed length (20)");
        }
        return checkIdentifier(disk, ids);
    }

    private static Optional<String> validateNet(JsonNode net, long boot, boolean sharedMemory,
                                                Optional<Integer> segments, Set<String> ids) {
        if (net.path("vhost_user").asBoolean(false) && !sharedMemory) {
            return Optional.of("Using vhost-user requires using shared memory or huge pages");
        }
        long queues = net.path("num_queues").asLong(2);
        if (queues < 2) {
            return Optional.of("Number of queues (" + queues + ") to virtio_net should be higher than 2");
        }
        if (queues / 2 > boot) {
            return Optional.of("Queue count (" + queues + ") must not exceed boot vCPUs (" + boot + ")");
        }
        if (net.path("vhost_user").asBoolean(false) && net.path("iommu").asBoolean(false)) {
            return Optional.of("Device does not support being placed behind IOMMU");
        }
        if (segments.isPresent() && net.path("pci_segment").asInt(0) >= segments.get()) {
            return Optional.of("Invalid PCI segment id: " + net.path("pci_segment").asInt());
        }
        if (net.hasNonNull("mtu") && net.get("mtu").asInt() < MINIMUM_MTU) {
            return Optional.of("Provided MTU " + net.get("mtu").asInt()
                    + " is lower than 1280 (expected by VIRTIO specification)");
        }
        if (!net.path("offload_csum").asBoolean(true)
                && (net.path("offload_tso").asBoolean(true) || net.path("offload_ufo").asBoolean(true))) {
            return Optional.of("\"offload_tso\" and \"offload_ufo\" depend on \"offload_csum\"");
        }
        if (net.hasNonNull("mask") && !net.hasNonNull("ip")) {
            return Optional.of("Mask provided without an IP");
        }
        if (net.hasNonNull("ip") && !net.hasNonNull("mask")) {
            return Optional.of("IP provided without a mask");
        }
        return checkIdentifier(net, ids);
    }

    /** One identifier list for every device kind, as {@code VmConfig::validate} keeps. */
    private static Optional<String> checkIdentifier(JsonNode device, Set<String> ids) {
        if (!device.hasNonNull("id")) {
            return Optional.empty();
        }
        String id = device.get("id").asText();
        if (id.startsWith("__")) {
            // sic: Cloud Hypervisor's own wording
            return Optional.of("Identifier " + id + " is not invalid");
        }
        if (!ids.add(id)) {
            return Optional.of("Identifier " + id + " is not unique");
        }
        return Optional.empty();
    }

    /** Opens a disk's backing file as the device manager would, read-only or read-write. */
    private static Optional<String> openDisk(JsonNode disk) {
        if (disk.path("vhost_user").asBoolean(false)) {
            return Optional.of("hvspi simulator: vhost-user disks are not simulated");
        }
        if (!disk.hasNonNull("path")) {
            return Optional.of("No disk path was specified when one was expected");
        }
        Path path = Path.of(disk.get("path").asText());
        Optional<String> error = disk.path("readonly").asBoolean(false) ? openForRead(path)
                : open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        return error.map(e -> "Cannot open disk path: " + e);
    }

    private static Optional<String> openForRead(Path path) {
        return open(path, StandardOpenOption.READ);
    }

    /** Opens and closes {@code path}; on failure, the error as Rust's io::Error prints it. */
    private static Optional<String> open(Path path, OpenOption... options) {
        if (Files.isDirectory(path)) {
            return Optional.of("Is a directory (os error 21)");
        }
        try (var channel = Files.newByteChannel(path, options)) {
            return Optional.empty();
        } catch (NoSuchFileException e) {
            return Optional.of("No such file or directory (os error 2)");
        } catch (AccessDeniedException e) {
            return Optional.of("Permission denied (os error 13)");
        } catch (IOException e) {
            return Optional.of(e.getMessage());
        }
    }
}
