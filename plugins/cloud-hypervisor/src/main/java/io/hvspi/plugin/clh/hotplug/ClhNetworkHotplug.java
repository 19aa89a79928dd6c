package io.hvspi.plugin.clh.hotplug;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.kit.device.DeviceIds;
import io.hvspi.kit.device.MacAddresses;
import io.hvspi.plugin.clh.api.ApiReply;
import io.hvspi.plugin.clh.api.ClhApiClient;
import io.hvspi.plugin.clh.api.Payloads;
import io.hvspi.spi.NetBackend;
import io.hvspi.spi.NetDevice;
import io.hvspi.spi.NetDeviceSpec;
import io.hvspi.spi.NetworkHotplug;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;

/**
 * Network device hotplug through {@code vm.add-net} and {@code vm.remove-device},
 * as Kata's Cloud Hypervisor driver does it: a tap by name, the MAC, two virtqueues
 * per queue pair, the hotplug timeout, and the PCI address from
 * {@code PciDeviceInfo}.
 *
 * <p>Taps: Cloud Hypervisor opens the named tap with {@code TUNSETIFF}, which
 * creates it when no interface has that name, and the tap it created goes when
 * it closes it (device removed, VMM gone). So a tap hvspi is asked to create
 * ({@link NetBackend.Tap#create()}) must not exist yet and is created and
 * removed by the VMM; a tap the caller brought must exist and is left alone.
 */
public final class ClhNetworkHotplug implements NetworkHotplug {
    /** Kata's queue size for network devices (Cloud Hypervisor's default). */
    public static final int QUEUE_SIZE = 256;

    private static final String TYPE = "clh";
    private static final Path SYS_NET = Path.of("/sys/class/net");

    private final ClhApiClient api;
    private final Object lock;
    private final Duration hotplugTimeout;
    private final BooleanSupplier booted;
    private final Runnable changed;
    private final Predicate<String> takenElsewhere;
    private final DeviceRemoval removal;
    private final Map<String, NetDevice> devices = new LinkedHashMap<>();

    /**
     * @param lock the lock of every device of the VM, shared with its disk hotplug
     * @param booted whether the VM runs (hotplug, answered 200) or is only created (cold add, answered 204)
     * @param changed called after every change of the device list, to persist it
     * @param takenElsewhere ids the VM's disks hold (one id namespace per VM)
     */
    public ClhNetworkHotplug(ClhApiClient api, Object lock, Duration hotplugTimeout, Duration apiTimeout,
                             BooleanSupplier booted, Runnable changed, Predicate<String> takenElsewhere) {
        this.api = api;
        this.lock = lock;
        this.hotplugTimeout = hotplugTimeout;
        this.booted = booted;
        this.changed = changed;
        this.takenElsewhere = takenElsewhere;
        this.removal = new DeviceRemoval(api, hotplugTimeout, apiTimeout);
    }

    @Override
    public NetDevice attach(NetDeviceSpec spec) {
        synchronized (lock) {
            String id = spec.id();
            DeviceIds.checkDeviceId(TYPE, id);
            if (devices.containsKey(id) || takenElsewhere.test(id)) {
                throw new RequestRejectedException(Reason.DUPLICATE_ID, "clh: device '" + id + "' is already attached");
            }
            NetBackend.Tap tap = switch (spec.backend()) {
                case NetBackend.Tap t -> t;
            };
            checkTap(id, tap);
            String mac = spec.mac().map(m -> MacAddresses.check(TYPE, m)).orElseGet(() -> MacAddresses.generate(macs()));
            if (spec.mac().isPresent() && macs().contains(mac)) {
                throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "clh: device '" + id + "': MAC " + mac
                        + " is already used by another network device of this VM");
            }
            JsonNode body = Payloads.netConfig(id, tap.name(), mac, spec.queues(), QUEUE_SIZE);
            ApiReply reply;
            try {
                reply = api.put("/vm.add-net", body, hotplugTimeout);
            } catch (VmmUnavailableException e) {
                if (e.reason() == VmmUnavailableException.Reason.TIMED_OUT) {
                    removal.removeQuietly(id); // it may have been added after all: leave nothing behind
                }
                throw e;
            }
            Optional<String> address = Optional.empty();
            if (reply.status() == 200) {
                JsonNode info = reply.requireBody("PUT /api/v1/vm.add-net");
                String bdf = info.path("bdf").asText("");
                if (!id.equals(info.path("id").asText()) || !ClhDeviceHotplug.KATA_BDF.matcher(bdf).matches()) {
                    removal.removeQuietly(id);
                    throw new VmmUnavailableException(VmmUnavailableException.Reason.PROTOCOL_ERROR,
                            "clh: vm.add-net for '" + id + "' answered " + info + "; expected id '" + id
                                    + "' and a PCI address 0000:00:DD.0 (device removed again)");
                }
                address = Optional.of(bdf);
            }
            NetDevice device = new NetDevice(id, mac, tap, spec.queues(), address);
            devices.put(id, device);
            changed.run();
            return device;
        }
    }

    @Override
    public void detach(String deviceId, Duration timeout) {
        synchronized (lock) {
            if (!devices.containsKey(deviceId)) {
                throw new RequestRejectedException(Reason.NOT_FOUND, "clh: no attached network device '" + deviceId + "'");
            }
            removal.remove(deviceId, timeout, booted.getAsBoolean());
            devices.remove(deviceId);
            changed.run();
        }
    }

    @Override
    public List<NetDevice> list() {
        synchronized (lock) {
            return List.copyOf(devices.values());
        }
    }

    /** True when a network device has this id. */
    public boolean has(String id) {
        synchronized (lock) {
            return devices.containsKey(id);
        }
    }

    /** Replaces the device list with what the VMM reports (after a reattach). */
    public void restore(List<NetDevice> fromVmm) {
        synchronized (lock) {
            devices.clear();
            fromVmm.forEach(d -> devices.put(d.id(), d));
        }
    }

    private Set<String> macs() {
        Set<String> macs = new HashSet<>();
        devices.values().forEach(d -> macs.add(d.mac()));
        return macs;
    }

    /** A tap to create must be free; a tap brought must be there (Cloud Hypervisor would silently create it). */
    private static void checkTap(String id, NetBackend.Tap tap) {
        boolean exists = Files.exists(SYS_NET.resolve(tap.name()));
        if (tap.create() && exists) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "clh: device '" + id + "': interface '"
                    + tap.name() + "' already exists on this host; pass it as a tap you bring, or pick a free name");
        }
        if (!tap.create() && !exists) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "clh: device '" + id + "': no interface '"
                    + tap.name() + "' on this host; create the tap first, or ask for a new one");
        }
    }
}
