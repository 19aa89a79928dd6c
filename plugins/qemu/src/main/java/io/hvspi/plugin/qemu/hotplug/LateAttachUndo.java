package io.hvspi.plugin.qemu.hotplug;

import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.qmp.QmpEvent;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.VmmUnavailableException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The undo of an attach (a backend, then a device on it) that QEMU did not answer in
 * time but may still carry out when it wakes up. The attach keeps the device id and its
 * place reserved meanwhile, so that nothing else is put there; once QEMU has answered
 * both commands, what it added is removed (device, then backend) and the reservation
 * freed. A failed attach leaves nothing behind, only later. Disks and NICs share it.
 */
final class LateAttachUndo {
    private static final Logger LOG = LoggerFactory.getLogger(LateAttachUndo.class);

    private LateAttachUndo() {}

    /**
     * @param guestless no guest acknowledges an unplug: a reset completes it
     * @param deleteBackend removes the backend QEMU added (block node, netdev)
     * @param release frees the id and place the attach holds
     * @param end forgets the attach's intent, and what else it made, once everything is undone;
     *        when the connection ends first the intent stays, for the next reattach to settle
     */
    static void whenAnswered(QmpClient qmp, boolean guestless, String deviceId,
                             QmpClient.Call backend, QmpClient.Call device, Runnable deleteBackend,
                             Runnable release, Runnable end) {
        CompletableFuture<HvspiException> backendDone = new CompletableFuture<>();
        backend.whenDone((reply, error) -> backendDone.complete(error));
        device.whenDone((reply, deviceError) -> {
            HvspiException backendError = backendDone.join(); // QEMU answers in order: the backend's came first
            if (deviceError instanceof VmmUnavailableException || backendError instanceof VmmUnavailableException) {
                // the connection ended: nothing more to undo or to protect here; the intent stays in the
                // record, and the next reattach adopts or rolls back what QEMU did
                release.run();
                return;
            }
            try {
                if (deviceError == null) {
                    unplugNow(qmp, guestless, deviceId);
                }
                if (backendError == null) {
                    deleteBackend.run();
                }
                LOG.info("undid the attach of device '{}' that QEMU carried out after it timed out", deviceId);
                release.run();
                end.run();
            } catch (HvspiException e) {
                if (qmp.isConnected()) {
                    LOG.error("cannot undo the late attach of device '{}'; its id and place stay reserved: {}",
                            deviceId, e.getMessage());
                } else {
                    release.run(); // the intent stays for the next reattach, as above
                }
            }
        });
    }

    /** Removes a device hvspi does not record (one being undone), waiting for QEMU to confirm. */
    private static void unplugNow(QmpClient qmp, boolean guestless, String deviceId) {
        Duration timeout = DeviceHotplug.DEFAULT_DETACH_TIMEOUT;
        CompletableFuture<QmpEvent> deleted = qmp.nextEvent(e -> e.isDeviceDeleted(deviceId));
        try {
            qmp.execute("device_del", QmpClient.args().put("id", deviceId));
            if (guestless) {
                qmp.execute("system_reset");
            }
            qmp.readUntil(deleted, timeout);
            deleted.get(0, TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT, "QEMU did not report"
                    + " DEVICE_DELETED for '" + deviceId + "' within " + timeout.toMillis() + " ms");
        } catch (ExecutionException e) {
            throw e.getCause() instanceof HvspiException h ? h : new HvspiException(String.valueOf(e.getCause()), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HvspiException("interrupted while removing device '" + deviceId + "'", e);
        } finally {
            deleted.cancel(false);
        }
    }
}
