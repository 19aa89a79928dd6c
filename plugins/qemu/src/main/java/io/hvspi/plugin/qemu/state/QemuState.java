package io.hvspi.plugin.qemu.state;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.IOThreadInfo;
import java.util.List;
import java.util.Objects;

/**
 * The QEMU plugin's state of one VM, stored as {@code VmRecord.pluginState} after
 * every change QEMU confirmed, and read back by {@code reattach}.
 *
 * @param format this document's format version
 * @param settings the configuration that matters after start
 * @param qmpSocket the QMP socket to reconnect to
 * @param endpoint true when hvspi did not spawn QEMU (it connected to a given socket)
 * @param ioThreads the VM's IOThreads, pool and controller, in creation order
 * @param rootPorts the hotplug root ports, in creation order
 * @param scsiController whether the virtio-scsi controller exists
 * @param policyTurn how many devices were placed by policy (round-robin's cursor)
 * @param nextNode the number of the next block node name
 * @param devices the hotplugged devices, in attach order
 */
public record QemuState(int format, QemuSettings settings, String qmpSocket, boolean endpoint,
                        List<IOThreadState> ioThreads, List<String> rootPorts, boolean scsiController, long policyTurn,
                        long nextNode, List<DeviceState> devices) {
    public static final int FORMAT = 1;

    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    public QemuState {
        Objects.requireNonNull(settings, "settings");
        Objects.requireNonNull(qmpSocket, "qmpSocket");
        ioThreads = List.copyOf(ioThreads);
        rootPorts = List.copyOf(rootPorts);
        devices = List.copyOf(devices);
    }

    /** One IOThread the VM owns. */
    public record IOThreadState(String id, IOThreadInfo.Kind kind) {}

    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new HvspiException("cannot write QEMU plugin state: " + e.getOriginalMessage(), e);
        }
    }

    /** Reads a state document; unknown fields are ignored so that a newer writer's extras do no harm. */
    public static QemuState fromJson(String json) {
        QemuState s;
        try {
            s = JSON.readValue(json, QemuState.class);
        } catch (JsonProcessingException | IllegalArgumentException | NullPointerException e) {
            throw new HvspiException("unreadable QEMU plugin state: " + e.getMessage(), e);
        }
        if (s.format() != FORMAT) {
            throw new HvspiException("QEMU plugin state has format " + s.format() + ", this plugin reads " + FORMAT);
        }
        return s;
    }
}
