package io.hvspi.plugin.qemu.state;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.IOThreadInfo;
import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

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
 * @param intents operations begun and not finished (format 2; none in format 1)
 * @param qemu who the QEMU process is, to verify a pid before signalling it; {@code null} when hvspi did not
 *             spawn QEMU, or in format 1
 * @param nics the hotplugged network devices, in attach order (format 3; none before)
 * @param pins the CPU set each pinned IOThread was pinned to, by IOThread id (format 3; none before)
 * @param placement where the pool's threads go: the pool's CPU set, which IOThreads added later get too,
 *                  and the cgroups (format 3; {@code null} before and when none was asked for)
 * @param intentLog the last line of the VM's {@link IntentLog} this record covers: intents logged after it
 *                  are in flight, or were when their process died (format 4; 0 before)
 */
public record QemuState(int format, QemuSettings settings, String qmpSocket, boolean endpoint,
                        List<IOThreadState> ioThreads, List<String> rootPorts, boolean scsiController, long policyTurn,
                        long nextNode, List<DeviceState> devices, List<Intent> intents, QemuIdentity qemu,
                        List<NicState> nics, Map<String, String> pins, Placement placement, long intentLog) {
    /**
     * Format 2 added {@code intents} and {@code qemu}; format 3 {@code nics}, {@code pins} and
     * {@code placement}; format 4 {@code intentLog}; format 5 changed no field: its log also holds
     * attaches finished without a record save; format 6 changed no field: a move's intent has its
     * device marked as unplugging once QEMU took the move's {@code device_del}. Older documents are
     * read as having none. A reader refuses newer formats: a format 2 reader cannot drop the NICs or
     * pins by saving over them, a format 3 reader cannot miss intents that only the log holds, a
     * format 4 reader cannot miss attaches that only the log holds, a format 5 reader cannot take a
     * marked move for a detach.
     */
    public static final int FORMAT = 6;
    private static final int OLDEST_READABLE = 1;

    /** Reads and writes the plugin's state, and the intent log's lines in the same terms. */
    static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            // hvspi writes whole numbers: a 1.5 in a count or a position is damage, not a 1
            .configure(DeserializationFeature.ACCEPT_FLOAT_AS_INT, false)
            // an intent log line or a state with anything after its value is damage
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    public QemuState {
        Objects.requireNonNull(settings, "settings");
        Objects.requireNonNull(qmpSocket, "qmpSocket");
        ioThreads = List.copyOf(ioThreads);
        rootPorts = List.copyOf(rootPorts);
        devices = List.copyOf(devices);
        intents = intents == null ? List.of() : List.copyOf(intents);
        nics = nics == null ? List.of() : List.copyOf(nics);
        if (intentLog < 0) {
            throw new IllegalArgumentException("intentLog is " + intentLog + ", a log position is 0 or more");
        }
        pins = pins == null ? Map.of() : Collections.unmodifiableMap(new TreeMap<>(pins));
    }

    /** A state without network devices, pins or placement (as format 2 had). */
    public QemuState(int format, QemuSettings settings, String qmpSocket, boolean endpoint,
                     List<IOThreadState> ioThreads, List<String> rootPorts, boolean scsiController, long policyTurn,
                     long nextNode, List<DeviceState> devices, List<Intent> intents, QemuIdentity qemu) {
        this(format, settings, qmpSocket, endpoint, ioThreads, rootPorts, scsiController, policyTurn, nextNode, devices,
                intents, qemu, List.of(), Map.of(), null, 0);
    }

    /**
     * The thread placement asked for at start, in CPU-list and cgroup-path text.
     *
     * @param poolCpus the pool's CPU set ({@code 0-3,6}), or {@code null}
     * @param ioThreadCgroup the pool's cgroup, or {@code null}
     * @param vcpuCgroup the vCPU threads' cgroup, or {@code null}
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Placement(String poolCpus, String ioThreadCgroup, String vcpuCgroup) {}

    /** A state with no intents and no process identity (as format 1 had). */
    public QemuState(int format, QemuSettings settings, String qmpSocket, boolean endpoint,
                     List<IOThreadState> ioThreads, List<String> rootPorts, boolean scsiController, long policyTurn,
                     long nextNode, List<DeviceState> devices) {
        this(format, settings, qmpSocket, endpoint, ioThreads, rootPorts, scsiController, policyTurn, nextNode, devices,
                List.of(), null, List.of(), Map.of(), null, 0);
    }

    /**
     * Who the QEMU process is: its start time ({@code /proc/PID/stat} field 22, clock
     * ticks since boot) and its executable, so that a recorded pid that now belongs to
     * another process is never signalled.
     *
     * @param startTime the process's start time in clock ticks after boot
     * @param executable the real path of the QEMU binary it runs
     */
    public record QemuIdentity(long startTime, String executable) {
        public QemuIdentity {
            Objects.requireNonNull(executable, "executable");
        }
    }

    public QemuState withNextNode(long next) {
        return new QemuState(format, settings, qmpSocket, endpoint, ioThreads, rootPorts, scsiController, policyTurn,
                next, devices, intents, qemu, nics, pins, placement, intentLog);
    }

    public QemuState withQemu(QemuIdentity identity) {
        return new QemuState(format, settings, qmpSocket, endpoint, ioThreads, rootPorts, scsiController, policyTurn,
                nextNode, devices, intents, identity, nics, pins, placement, intentLog);
    }

    /** This state with other devices, IOThreads and intents (what reconciliation changes). */
    public QemuState with(List<DeviceState> newDevices, List<IOThreadState> newIoThreads, List<Intent> newIntents,
                          long newNextNode) {
        return new QemuState(FORMAT, settings, qmpSocket, endpoint, newIoThreads, rootPorts, scsiController,
                policyTurn, newNextNode, newDevices, newIntents, qemu, nics, pins, placement, intentLog);
    }

    /** This state with the intents a reattach found (the record's and its log's), covering the log up to {@code lastLogged}. */
    public QemuState withIntents(List<Intent> newIntents, long lastLogged) {
        return new QemuState(format, settings, qmpSocket, endpoint, ioThreads, rootPorts, scsiController, policyTurn,
                nextNode, devices, newIntents, qemu, nics, pins, placement, lastLogged);
    }

    /**
     * This state with the attaches its log says finished after it was saved, as their own saves
     * would have recorded them (a later one about the same id wins), and the round-robin cursor
     * they left ({@code policyTurn}, or -1 for none).
     */
    public QemuState withFinished(List<Intent> finished, long turn) {
        Map<String, DeviceState> newDevices = new LinkedHashMap<>();
        devices.forEach(d -> newDevices.put(d.id(), d));
        Map<String, NicState> newNics = new LinkedHashMap<>();
        nics.forEach(n -> newNics.put(n.id(), n));
        for (Intent i : finished) {
            switch (i.op()) {
                case ATTACH -> newDevices.put(i.id(), i.device());
                case NIC_ATTACH -> newNics.put(i.id(), i.nic());
                default -> throw new IllegalArgumentException(i.op() + " is not finished by a log line");
            }
        }
        return new QemuState(format, settings, qmpSocket, endpoint, ioThreads, rootPorts, scsiController,
                Math.max(policyTurn, turn), nextNode, List.copyOf(newDevices.values()), intents, qemu,
                List.copyOf(newNics.values()), pins, placement, intentLog);
    }

    /** This state with other network devices. */
    public QemuState withNics(List<NicState> newNics) {
        return new QemuState(FORMAT, settings, qmpSocket, endpoint, ioThreads, rootPorts, scsiController, policyTurn,
                nextNode, devices, intents, qemu, newNics, pins, placement, intentLog);
    }

    /** This state with other pins (what pin reconciliation changes). */
    public QemuState withPins(Map<String, String> newPins) {
        return new QemuState(FORMAT, settings, qmpSocket, endpoint, ioThreads, rootPorts, scsiController, policyTurn,
                nextNode, devices, intents, qemu, nics, newPins, placement, intentLog);
    }

    public QemuState withPlacement(Placement newPlacement) {
        return new QemuState(format, settings, qmpSocket, endpoint, ioThreads, rootPorts, scsiController, policyTurn,
                nextNode, devices, intents, qemu, nics, pins, newPlacement, intentLog);
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
        } catch (JsonProcessingException e) {
            throw new HvspiException("unreadable QEMU plugin state: " + oneLine(e), e);
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new HvspiException("unreadable QEMU plugin state: " + e.getMessage(), e);
        }
        if (s == null) { // the record had no plugin state: JSON null
            throw new HvspiException("unreadable QEMU plugin state: it is missing (null)");
        }
        if (s.format() < OLDEST_READABLE || s.format() > FORMAT) {
            throw new HvspiException("QEMU plugin state has format " + s.format() + ", this plugin reads "
                    + OLDEST_READABLE + " to " + FORMAT);
        }
        return s;
    }

    /** Jackson's message without its multi-line source location, and the field it is about. */
    private static String oneLine(JsonProcessingException e) {
        StringBuilder field = new StringBuilder();
        if (e instanceof JsonMappingException m) {
            for (JsonMappingException.Reference r : m.getPath()) {
                if (r.getFieldName() != null) {
                    field.append(field.isEmpty() ? "" : ".").append(r.getFieldName());
                } else if (r.getIndex() >= 0) {
                    field.append('[').append(r.getIndex()).append(']');
                }
            }
        }
        String message = String.valueOf(e.getOriginalMessage()).replace('\n', ' ');
        return field.isEmpty() ? message : "field " + field + ": " + message;
    }
}
