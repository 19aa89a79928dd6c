package io.hvspi.plugin.qemu.reconcile;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.plugin.qemu.hotplug.HostTaps;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.state.Intent;
import io.hvspi.plugin.qemu.state.NicState;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.VmmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;

/**
 * Makes a reattached VM's network devices say what QEMU really has; runs before the
 * block {@link Reconciler}, which keeps the intents this one leaves.
 *
 * <ul>
 *   <li>A NIC attach that an earlier process left unfinished is adopted when QEMU has the
 *       device on hvspi's netdev, else rolled back: {@code netdev_del} (QEMU may have
 *       added the netdev before the process died) and removal of the tap hvspi made.</li>
 *   <li>A NIC marked as unplugging whose device QEMU still has is asked again
 *       ({@code device_del}, and without a guest one {@code system_reset}); one that is
 *       gone is finished: {@code netdev_del} and removal of the tap hvspi made.</li>
 *   <li>A recorded NIC QEMU no longer has is dropped and reported; its tap is kept. A
 *       virtio-net device QEMU has and the record lacks is reported, not adopted: hvspi
 *       cannot tell which host tap it uses.</li>
 * </ul>
 */
public final class NicReconciler {
    private final QmpClient qmp;
    private final boolean guestless;
    private final Duration timeout;
    private final List<String> notes = new ArrayList<>();

    /** One virtio-net device as QEMU has it. */
    record LiveNic(String id, String netdev, String mac, String bus) {}

    public NicReconciler(QmpClient qmp, boolean guestless, Duration timeout) {
        this.qmp = qmp;
        this.guestless = guestless;
        this.timeout = timeout;
    }

    public Reconciler.Result reconcile(QemuState saved) {
        Map<String, NicState> nics = new LinkedHashMap<>();
        saved.nics().forEach(n -> nics.put(n.id(), n));
        Map<String, LiveNic> live = read(qmp);
        boolean wrote = false;
        List<Intent> rest = new ArrayList<>();
        for (Intent intent : saved.intents()) {
            if (intent.op() != Intent.Op.NIC_ATTACH) {
                rest.add(intent);
                continue;
            }
            NicState planned = intent.nic();
            LiveNic there = live.get(planned.id());
            if (there != null && there.netdev().equals(planned.netdev())) {
                nics.put(planned.id(), new NicState(planned.id(), planned.netdev(), planned.tap(), planned.createdTap(),
                        there.mac(), planned.queues(), there.bus(), false));
                notes.add("attach of network device '" + planned.id() + "' was interrupted after QEMU added it: adopted");
            } else {
                wrote |= deleteNetdev(planned.netdev());
                if (planned.createdTap()) {
                    HostTaps.removeQuietly(planned.tap());
                }
                notes.add("attach of network device '" + planned.id() + "' was interrupted before QEMU added it:"
                        + " rolled back (netdev '" + planned.netdev() + "'" + (planned.createdTap()
                        ? ", tap '" + planned.tap() + "'" : "") + ")");
            }
        }
        Map<String, LiveNic> before = live;
        List<String> pending = nics.values().stream().filter(n -> n.unplugging() && before.containsKey(n.id()))
                .map(NicState::id).toList();
        if (!pending.isEmpty()) {
            askUnplugAgain(pending);
            wrote = true;
            live = read(qmp);
        }
        for (NicState n : List.copyOf(nics.values())) {
            if (live.containsKey(n.id())) {
                continue;
            }
            nics.remove(n.id());
            if (n.unplugging()) {
                wrote |= deleteNetdev(n.netdev());
                if (n.createdTap()) {
                    HostTaps.removeQuietly(n.tap());
                }
                notes.add("detach of network device '" + n.id() + "' was interrupted after QEMU unplugged it:"
                        + " finished");
            } else {
                notes.add("network device '" + n.id() + "' is recorded but QEMU no longer has it: dropped from the"
                        + " record; its tap '" + n.tap() + "' is kept");
            }
        }
        for (LiveNic there : live.values()) {
            if (!nics.containsKey(there.id())) {
                notes.add("network device '" + there.id() + "' (netdev '" + there.netdev() + "') is in QEMU but was"
                        + " not recorded: left as it is (hvspi cannot tell its host tap)");
            }
        }
        QemuState result = saved.with(saved.devices(), saved.ioThreads(), rest, saved.nextNode())
                .withNics(List.copyOf(nics.values()));
        return new Reconciler.Result(result, List.copyOf(notes), wrote || !result.equals(saved));
    }

    private void askUnplugAgain(List<String> ids) {
        for (String id : ids) {
            try {
                qmp.execute("device_del", QmpClient.args().put("id", id));
            } catch (VmmException e) {
                // already pending, or gone meanwhile: the reset or the guest settles it
            }
        }
        if (!guestless) {
            return;
        }
        qmp.execute("system_reset");
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            Map<String, LiveNic> now = read(qmp);
            if (ids.stream().noneMatch(now::containsKey)) {
                return;
            }
            LockSupport.parkNanos(1_000_000);
        }
        notes.add("the unplug of network device(s) " + String.join(", ", ids) + " is still pending");
    }

    /** True when QEMU had the netdev and deleted it. */
    private boolean deleteNetdev(String netdev) {
        try {
            qmp.execute("netdev_del", QmpClient.args().put("id", netdev));
            return true;
        } catch (VmmException e) {
            return false; // never added, or already gone
        }
    }

    /** QEMU's virtio-net devices, by id, with their netdev, MAC and root port. */
    static Map<String, LiveNic> read(QmpClient qmp) {
        Map<String, LiveNic> out = new LinkedHashMap<>();
        for (JsonNode child : qmp.execute("qom-list", QmpClient.args().put("path", "/machine/peripheral"))) {
            if (!"child<virtio-net-pci>".equals(child.path("type").asText())) {
                continue;
            }
            String id = child.path("name").asText();
            String path = "/machine/peripheral/" + id;
            try {
                String parent = get(qmp, path, "parent_bus").asText();
                out.put(id, new LiveNic(id, get(qmp, path, "netdev").asText(), get(qmp, path, "mac").asText(),
                        parent.substring(parent.lastIndexOf('/') + 1)));
            } catch (VmmException e) {
                if (!"DeviceNotFound".equals(e.errorClass())) {
                    throw e;
                }
            }
        }
        return out;
    }

    private static JsonNode get(QmpClient qmp, String path, String property) {
        return qmp.execute("qom-get", QmpClient.args().put("path", path).put("property", property));
    }
}
