package io.hvspi.plugin.clh.hotplug;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.plugin.clh.api.ClhApiClient;
import io.hvspi.plugin.clh.api.Payloads;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import java.time.Duration;
import java.time.Instant;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code vm.remove-device} for any device kind (disks and network devices share
 * it): on a running VM it only asks the guest to eject the device, which is gone
 * when {@code vm.info}'s device tree no longer has it.
 */
final class DeviceRemoval {
    private static final Logger LOG = LoggerFactory.getLogger(DeviceRemoval.class);
    private static final Duration EJECT_POLL = Duration.ofMillis(10);

    private final ClhApiClient api;
    private final Duration hotplugTimeout;
    private final Duration apiTimeout;

    DeviceRemoval(ClhApiClient api, Duration hotplugTimeout, Duration apiTimeout) {
        this.api = api;
        this.hotplugTimeout = hotplugTimeout;
        this.apiTimeout = apiTimeout;
    }

    /**
     * Removes {@code id} and, on a running VM, waits until the guest ejected it. On a running
     * VM it first reads {@code vm.info}: a device still in the device tree but gone from the
     * configuration was already asked to go (an earlier detach that timed out, perhaps in
     * another process), and is only waited for. Asking again would kill v51.1 for a NIC: its
     * {@code DeviceManager::remove_device} unwraps the NIC's configuration, removed by the first
     * request.
     */
    void remove(String id, Duration timeout, boolean running) {
        Instant deadline = Instant.now().plus(timeout);
        if (running) {
            JsonNode info = vmInfo(timeout);
            if (!info.path("device_tree").has(id)) {
                return; // ejected since an earlier detach timed out
            }
            if (!configured(info.path("config"), id)) {
                awaitEjected(id, deadline, timeout);
                return;
            }
        }
        try {
            api.put("/vm.remove-device", Payloads.removeDevice(id), min(timeout, hotplugTimeout));
        } catch (VmmException e) {
            // an earlier detach that timed out may have completed since: then the device is gone already
            if (!running || present(id, timeout)) {
                throw e;
            }
        }
        if (running) {
            awaitEjected(id, deadline, timeout);
        }
    }

    /** Best-effort removal after a failed or doubtful add: leave nothing behind. */
    void removeQuietly(String id) {
        try {
            api.put("/vm.remove-device", Payloads.removeDevice(id), hotplugTimeout);
        } catch (VmmException | VmmUnavailableException e) {
            LOG.debug("rollback of '{}' not needed or not possible: {}", id, e.getMessage());
        }
    }

    private void awaitEjected(String id, Instant deadline, Duration timeout) {
        while (true) {
            Duration left = Duration.between(Instant.now(), deadline);
            JsonNode info = api.get("/vm.info", left.isNegative() ? Duration.ofMillis(1) : min(left, apiTimeout))
                    .requireBody("GET /api/v1/vm.info");
            if (!info.path("device_tree").has(id)) {
                return;
            }
            if (!Instant.now().plus(EJECT_POLL).isBefore(deadline)) {
                throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT, "clh: device '" + id
                        + "' is still present " + timeout.toMillis() + " ms after vm.remove-device (the guest has not ejected it)");
            }
            try {
                Thread.sleep(EJECT_POLL);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT,
                        "clh: interrupted while waiting for device '" + id + "' to be ejected");
            }
        }
    }

    private boolean present(String id, Duration timeout) {
        return vmInfo(timeout).path("device_tree").has(id);
    }

    private JsonNode vmInfo(Duration timeout) {
        return api.get("/vm.info", min(timeout, apiTimeout)).requireBody("GET /api/v1/vm.info");
    }

    /** True when a device list of {@code config} (disks, NICs, and the kinds hvspi does not add) has {@code id}. */
    private static boolean configured(JsonNode config, String id) {
        for (String list : java.util.List.of("disks", "net", "fs", "pmem", "devices", "vdpa", "user_devices")) {
            for (JsonNode device : config.path(list)) {
                if (id.equals(device.path("id").asText(null))) {
                    return true;
                }
            }
        }
        return id.equals(config.path("vsock").path("id").asText(null));
    }

    static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }
}
