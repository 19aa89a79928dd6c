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
 * every refused action is 500 with a JSON array of messages).
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

    /** A booted VM: its state, PCI slots, devices (by id, in creation order) and vCPU threads. */
    private static final class Running {
        String state = "Running";
        final BitSet slots = new BitSet(PCI_SLOTS);
        final Map<String, Device> devices = new LinkedHashMap<>();
        SimulatedThreads vcpus;
    }

    /** A PCI device of a booted VM, with its queue worker threads (for disks). */
    private record Device(String id, int slot, Optional<SimulatedThreads> workers, Optional<Instant> ejectAt) {
        String bdf() {
            return String.format("0000:00:%02x.0", slot);
        }

        Device ejecting(Instant at) {
            return new Device(id, slot, workers, Optional.of(at));
        }
    }

    private final ClhApiSpec spec;
    private final ClhSimulator.Options options;
    private ObjectNode config;
    private Running vm;
    private int nextDiskIndex;
    private int nextNetIndex;

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
        // console devices are opened when the VM is created (pre_create_console_devices)
        for (String console : List.of("serial", "console")) {
            JsonNode c = body.path(console);
            if ("File".equals(c.path("mode").asText()) && c.hasNonNull("file")) {
                Optional<String> error = openForWrite(Path.of(c.get("file").asText()));
                if (error.isPresent()) {
                    return ApiReply.apiError("The VM could not be created", "Error creating console devices",
                            "Error creating " + console + " output file", error.get());
                }
            }
        }
        config = body;
        return ApiReply.noContent();
    }

    synchronized ApiReply boot() {
        if (config == null) {
            return ApiReply.apiError("The VM could not boot", "VM config is missing");
        }
        if (vm != null) {
            return ApiReply.apiError("The VM could not boot",
                    "invalid VM state transition: " + vm.state + " to Running");
        }
        Optional<String> invalid = validate(config);
        if (invalid.isPresent()) {
            return ApiReply.apiError("The VM could not boot", "Failed to validate config", invalid.get());
        }
        JsonNode payload = config.path("payload");
        if (!payload.hasNonNull("kernel") && !payload.hasNonNull("firmware")) {
            return ApiReply.apiError("The VM could not boot", "Failed to validate config",
                    "Payload configuration is not bootable", "No bootitem provided: neither firmware nor kernel");
        }
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
        // virtio devices in the order Cloud Hypervisor's device manager creates them
        if (!"Off".equals(config.path("console").path("mode").asText("Tty"))) {
            addDevice(booting, "__console", 0);
        }
        for (JsonNode disk : config.withArray("disks")) {
            addDevice(booting, assignDiskId((ObjectNode) disk), disk.path("num_queues").asInt(1));
        }
        int net = 0;
        for (JsonNode n : config.path("net")) {
            addDevice(booting, n.path("id").asText("_net" + net++), 0);
        }
        addDevice(booting, "__rng", 0);
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
        return ApiReply.noContent();
    }

    synchronized ApiReply delete() {
        if (vm != null) {
            stopVm();
        }
        config = null;
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
                // as in Cloud Hypervisor: the device's node, and its virtio-pci transport node holding the bdf
                String transport = "_virtio-pci-" + d.id();
                ObjectNode node = tree.putObject(d.id()).put("id", d.id());
                node.putArray("resources");
                node.putArray("children").add(transport);
                ObjectNode pci = tree.putObject(transport).put("id", transport);
                pci.putArray("resources");
                pci.putArray("children");
                pci.put("pci_bdf", d.bdf());
            }
        }
        return ApiReply.ok(info);
    }

    synchronized ApiReply addDisk(ObjectNode disk) {
        reapEjected();
        if (config == null) {
            return ApiReply.apiError("The disk could not be added to the VM", "VM is not created");
        }
        spec.fillDefaults("DiskConfig", disk);
        // validated on a copy of the configuration with the disk added, as vm_add_disk does
        ObjectNode candidate = config.deepCopy();
        candidate.withArray("disks").add(disk);
        Optional<String> invalid = validate(candidate);
        if (invalid.isPresent()) {
            return ApiReply.apiError("The disk could not be added to the VM", "Failed to validate config", invalid.get());
        }
        if (vm == null) {
            config.withArray("disks").add(disk);
            return ApiReply.noContent();
        }
        int queueSize = disk.path("queue_size").asInt();
        if (Integer.bitCount(queueSize) != 1) {
            // The real VMM (v51) does not refuse this: Queue::new(size).unwrap() panics in the
            // virtio-pci transport. The simulator refuses it instead of dying, and says so.
            return ApiReply.apiError("The disk could not be added to the VM",
                    "hvspi simulator: queue_size " + queueSize + " is not a power of two "
                            + "(Cloud Hypervisor v51 panics in Queue::new here)");
        }
        Optional<String> error = openDisk(disk);
        if (error.isPresent()) {
            return ApiReply.apiError("The disk could not be added to the VM", "Error from device manager", error.get());
        }
        if (vm.slots.nextClearBit(1) >= PCI_SLOTS) {
            return ApiReply.apiError("The disk could not be added to the VM", "Error from device manager",
                    "Failed to find an available PCI device ID");
        }
        Device added = addDevice(vm, assignDiskId(disk), disk.path("num_queues").asInt());
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
        Optional<String> invalid = validate(candidate);
        if (invalid.isPresent()) {
            return ApiReply.apiError(title, "Failed to validate config", invalid.get());
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
        Device added = addDevice(vm, assignNetId(net), 0);
        config.withArray("net").add(net);
        return ApiReply.ok(JSON.createObjectNode().put("id", added.id()).put("bdf", added.bdf()));
    }

    /**
     * Removes a device. On a booted VM the real VMM only asks the guest to
     * eject it and answers at once; the device is gone (from {@code vm.info}'s
     * device tree and configuration, and its threads end) when the guest has
     * ejected it, here after {@link ClhSimulator.Options#ejectDelay()} of running
     * (a paused guest ejects nothing until it is resumed).
     */
    synchronized ApiReply removeDevice(String id) {
        reapEjected();
        if (config == null) {
            return ApiReply.apiError("The device could not be removed from the VM", "VM is not created");
        }
        if (vm == null) {
            if (!removeFromConfig(id)) {
                return ApiReply.apiError("The device could not be removed from the VM",
                        "No device with id \"" + id + "\" to remove");
            }
            return ApiReply.noContent();
        }
        Device device = vm.devices.get(id);
        if (device == null) {
            return ApiReply.apiError("The device could not be removed from the VM", "Error from device manager",
                    "Failed to find device corresponding to the given identifier");
        }
        if (id.startsWith("__")) {
            return ApiReply.apiError("The device could not be removed from the VM", "Error from device manager",
                    "Not allowed to remove this type of device from the VM");
        }
        if (device.ejectAt().isEmpty()) {
            vm.devices.put(id, device.ejecting(Instant.now().plus(options.ejectDelay())));
        }
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

    private Device addDevice(Running running, String id, int queues) {
        int slot = running.slots.nextClearBit(1);
        running.slots.set(slot);
        Optional<SimulatedThreads> workers = queues == 0 ? Optional.empty()
                // the guest's driver activates the device at once, which starts one thread per queue
                : Optional.of(SimulatedThreads.start(IntStream.range(0, queues).mapToObj(q -> id + "_q" + q).toList()));
        Device device = new Device(id, slot, workers, Optional.empty());
        running.devices.put(id, device);
        return device;
    }

    private String assignDiskId(ObjectNode disk) {
        if (!disk.hasNonNull("id")) {
            Set<String> taken = new HashSet<>();
            config.path("disks").forEach(d -> taken.add(d.path("id").asText()));
            String id;
            do {
                id = "_disk" + nextDiskIndex++;
            } while (taken.contains(id));
            disk.put("id", id);
        }
        return disk.get("id").asText();
    }

    private String assignNetId(ObjectNode net) {
        if (!net.hasNonNull("id")) {
            Set<String> taken = new HashSet<>();
            config.path("net").forEach(n -> taken.add(n.path("id").asText()));
            String id;
            do {
                id = "_net" + nextNetIndex++;
            } while (taken.contains(id));
            net.put("id", id);
        }
        return net.get("id").asText();
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
                removeFromConfig(d.id());
            }
        }
    }

    private boolean removeFromConfig(String id) {
        boolean removed = false;
        for (String list : List.of("disks", "net", "fs", "pmem", "devices", "vdpa")) {
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

    private void stopVm() {
        vm.devices.values().forEach(d -> d.workers().ifPresent(SimulatedThreads::stop));
        vm.vcpus.stop();
        vm = null;
    }

    /** The parts of {@code VmConfig::validate} that concern what the simulator models: CPUs and disks. */
    private Optional<String> validate(JsonNode cfg) {
        long boot = cfg.path("cpus").path("boot_vcpus").asLong(1);
        if (cfg.path("cpus").path("max_vcpus").asLong(1) < boot) {
            return Optional.of("Max CPUs lower than boot CPUs");
        }
        boolean sharedMemory = cfg.path("memory").path("shared").asBoolean(false)
                || cfg.path("memory").path("hugepages").asBoolean(false);
        Set<String> ids = new HashSet<>();
        for (JsonNode disk : cfg.path("disks")) {
            if (disk.hasNonNull("vhost_socket") && disk.hasNonNull("path")) {
                return Optional.of("Disk path and vhost socket both provided");
            }
            if (disk.path("vhost_user").asBoolean(false) && !sharedMemory) {
                return Optional.of("Using vhost-user requires using shared memory or huge pages");
            }
            if (disk.path("vhost_user").asBoolean(false) && !disk.hasNonNull("vhost_socket")) {
                return Optional.of("No socket provided when using vhost-user");
            }
            if (disk.path("num_queues").asLong(1) > boot) {
                return Optional.of("Number of vCPUs is insufficient for number of queues");
            }
            int queueSize = disk.path("queue_size").asInt(128);
            if (queueSize <= MINIMUM_BLOCK_QUEUE_SIZE) {
                return Optional.of("Queue size is smaller than " + MINIMUM_BLOCK_QUEUE_SIZE + ": " + queueSize);
            }
            if (disk.path("vhost_user").asBoolean(false) && disk.path("iommu").asBoolean(false)) {
                return Optional.of("Device does not support being placed behind IOMMU");
            }
            if (disk.path("pci_segment").asInt(0) >= cfg.path("platform").path("num_pci_segments").asInt(1)) {
                return Optional.of("Invalid PCI segment id: " + disk.path("pci_segment").asInt());
            }
            if (disk.hasNonNull("rate_limiter_config") && disk.hasNonNull("rate_limit_group")) {
                return Optional.of("Invalid rate-limiter group");
            }
            if (disk.hasNonNull("serial") && disk.get("serial").asText().length() > 20) {
                return Optional.of("Block device serial length (" + disk.get("serial").asText().length()
                        + ") exceeds maximum allowed length (20)");
            }
            Optional<String> badId = checkIdentifier(disk, ids);
            if (badId.isPresent()) {
                return badId;
            }
        }
        // NetConfig::validate, then the identifier, in VmConfig::validate's order
        for (JsonNode net : cfg.path("net")) {
            if (net.path("num_queues").asLong(2) < 2) {
                return Optional.of("Number of queues to virtio_net less than 2");
            }
            if (net.path("num_queues").asLong(2) / 2 > boot) {
                return Optional.of("Number of vCPUs is insufficient for number of queues");
            }
            if (net.path("vhost_user").asBoolean(false) && net.path("iommu").asBoolean(false)) {
                return Optional.of("Device does not support being placed behind IOMMU");
            }
            if (net.path("pci_segment").asInt(0) >= cfg.path("platform").path("num_pci_segments").asInt(1)) {
                return Optional.of("Invalid PCI segment id: " + net.path("pci_segment").asInt());
            }
            if (net.hasNonNull("mtu") && net.get("mtu").asInt() < MINIMUM_MTU) {
                return Optional.of("Provided MTU " + net.get("mtu").asInt()
                        + " is lower than 1280 (expected by VIRTIO specification)");
            }
            if (!net.path("offload_csum").asBoolean(true)
                    && (net.path("offload_tso").asBoolean(true) || net.path("offload_ufo").asBoolean(true))) {
                // sic: Cloud Hypervisor's own wording
                return Optional.of("\"offload_tso\" and \"offload_ufo\" depend on \"offload_tso\"");
            }
            if (net.path("vhost_user").asBoolean(false) && !sharedMemory) {
                return Optional.of("Using vhost-user requires using shared memory or huge pages");
            }
            Optional<String> badId = checkIdentifier(net, ids);
            if (badId.isPresent()) {
                return badId;
            }
        }
        return Optional.empty();
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

    private static Optional<String> openForWrite(Path path) {
        return open(path, StandardOpenOption.WRITE, StandardOpenOption.CREATE);
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
