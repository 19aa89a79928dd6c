package io.hvspi.plugin.qemu.iothread;

import io.hvspi.plugin.qemu.cmdline.QemuIds;
import io.hvspi.plugin.qemu.state.QemuState.IOThreadState;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo.Kind;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The accounting of a VM's IOThreads: which exist, which devices use which, and
 * which are reserved by attaches in flight.
 *
 * <p>An attach first {@link #reserve reserves} its IOThread(s): the policy
 * counts reservations as load, so concurrent attaches spread instead of piling
 * onto one IOThread. Only when QEMU confirmed the device does the reservation
 * become an assignment ({@link #confirm}); a failed attach {@link #release releases}
 * it and leaves no trace. All methods synchronise on the lock given at
 * construction, which the VM's device table shares, so that a snapshot of both is
 * consistent.
 */
public final class IOThreadPool {
    private final Object lock;
    private final IOThreadPolicy policy;
    private final Map<String, Kind> members = new LinkedHashMap<>();
    /** Device id to the IOThreads QEMU confirmed for it, in attach order. */
    private final Map<String, List<String>> assigned = new LinkedHashMap<>();
    private final Map<String, Integer> reserved = new HashMap<>();
    /** IOThreads being deleted: no new reservation may land on them. */
    private final Set<String> removing = new HashSet<>();
    private long placedByPolicy;
    private long inFlightByPolicy;

    /** A claim on IOThreads for one attach in flight. */
    public static final class Reservation {
        private final List<String> ioThreads;
        private final boolean byPolicy;
        private boolean open = true;

        private Reservation(List<String> ioThreads, boolean byPolicy) {
            this.ioThreads = List.copyOf(ioThreads);
            this.byPolicy = byPolicy;
        }

        /** The IOThreads reserved; empty for the main loop. */
        public List<String> ioThreads() {
            return ioThreads;
        }
    }

    /**
     * @param lock the monitor shared with the device table
     * @param members the VM's IOThreads in creation order
     * @param policy the placement policy
     * @param placedByPolicy devices placed by policy so far (round-robin's cursor)
     */
    public IOThreadPool(Object lock, List<IOThreadState> members, IOThreadPolicy policy, long placedByPolicy) {
        this.lock = lock;
        this.policy = policy;
        this.placedByPolicy = placedByPolicy;
        for (IOThreadState m : members) {
            this.members.put(m.id(), m.kind());
        }
    }

    public IOThreadPolicy policy() {
        return policy;
    }

    /** The pool's IOThreads (not controller ones), in creation order. */
    public List<String> poolIds() {
        synchronized (lock) {
            // a loop, not a stream: every attach by policy asks, mostly in code the JIT has not reached yet
            List<String> ids = new ArrayList<>(members.size());
            members.forEach((id, kind) -> {
                if (kind == Kind.POOL && !removing.contains(id)) {
                    ids.add(id);
                }
            });
            return Collections.unmodifiableList(ids);
        }
    }

    /** Every IOThread the VM owns, pool and controller, in creation order. */
    public List<IOThreadState> members() {
        synchronized (lock) {
            List<IOThreadState> out = new ArrayList<>(members.size());
            members.forEach((id, kind) -> out.add(new IOThreadState(id, kind)));
            return Collections.unmodifiableList(out);
        }
    }

    public Optional<Kind> kind(String id) {
        synchronized (lock) {
            return Optional.ofNullable(members.get(id));
        }
    }

    /** Devices confirmed on an IOThread, in attach order. */
    public List<String> devicesOn(String id) {
        synchronized (lock) {
            List<String> out = new ArrayList<>();
            assigned.forEach((device, threads) -> {
                if (threads.contains(id)) {
                    out.add(device);
                }
            });
            return out;
        }
    }

    /** Confirmed devices plus reservations in flight: what the policy weighs. */
    public int load(String id) {
        synchronized (lock) {
            return devicesOn(id).size() + reserved.getOrDefault(id, 0);
        }
    }

    /** Open reservations per IOThread (attaches and moves in flight); empty when none is in flight. */
    public Map<String, Integer> reservations() {
        synchronized (lock) {
            return Map.copyOf(reserved);
        }
    }

    /** Which IOThreads each confirmed device uses, in attach order. */
    public Map<String, List<String>> assignments() {
        synchronized (lock) {
            return new LinkedHashMap<>(assigned);
        }
    }

    /** Round-robin's cursor: placements by policy, confirmed and in flight. */
    public long turn() {
        synchronized (lock) {
            return placedByPolicy + inFlightByPolicy;
        }
    }

    /** Placements by policy QEMU confirmed (what the state file keeps). */
    public long placedByPolicy() {
        synchronized (lock) {
            return placedByPolicy;
        }
    }

    /** The IOThread the policy would pick now; EXHAUSTED when the pool is empty. */
    public String choose() {
        synchronized (lock) {
            return policy.choose(poolIds(), this::load, turn());
        }
    }

    /**
     * Reserves the IOThread(s) for a choice. {@code ByPolicy} on an empty pool means
     * the main loop (Kata without indep_iothreads). Named and vq-mapped choices must
     * name pool IOThreads.
     */
    public Reservation reserve(IOThreadChoice choice) {
        synchronized (lock) {
            List<String> ids = switch (choice) {
                case IOThreadChoice.ByPolicy p -> poolIds().isEmpty() ? List.of() : List.of(choose());
                case IOThreadChoice.MainLoop m -> List.of();
                case IOThreadChoice.Named n -> List.of(checkPoolMember(n.id()));
                case IOThreadChoice.VqMapped v -> {
                    if (new HashSet<>(v.ids()).size() != v.ids().size()) {
                        throw new RequestRejectedException(Reason.INVALID_ARGUMENT,
                                "vq-mapping names an IOThread twice: " + v.ids());
                    }
                    v.ids().forEach(this::checkPoolMember);
                    yield v.ids();
                }
            };
            boolean byPolicy = choice instanceof IOThreadChoice.ByPolicy && !ids.isEmpty();
            for (String id : ids) {
                reserved.merge(id, 1, Integer::sum);
            }
            if (byPolicy) {
                inFlightByPolicy++;
            }
            return new Reservation(ids, byPolicy);
        }
    }

    private String checkPoolMember(String id) {
        Kind k = members.get(id);
        if (k == null) {
            throw new RequestRejectedException(Reason.NOT_FOUND,
                    "no IOThread '" + QemuIds.shown(id) + "' in the pool (pool: " + poolIds() + ")");
        }
        if (k != Kind.POOL) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT,
                    "IOThread '" + id + "' belongs to a controller, not to the pool");
        }
        if (removing.contains(id)) {
            throw new RequestRejectedException(Reason.INVALID_STATE, "IOThread '" + id + "' is being removed");
        }
        return id;
    }

    /** QEMU confirmed the device: the reservation becomes its assignment. */
    public void confirm(Reservation r, String deviceId) {
        synchronized (lock) {
            close(r);
            if (r.byPolicy) {
                placedByPolicy++;
            }
            assigned.put(deviceId, r.ioThreads);
        }
    }

    /** The attach failed: gives the reservation back. Idempotent. */
    public void release(Reservation r) {
        synchronized (lock) {
            if (r.open) {
                close(r);
            }
        }
    }

    private void close(Reservation r) {
        if (!r.open) {
            throw new IllegalStateException("reservation already closed");
        }
        r.open = false;
        for (String id : r.ioThreads) {
            reserved.computeIfPresent(id, (k, n) -> n == 1 ? null : n - 1);
        }
        if (r.byPolicy) {
            inFlightByPolicy--;
        }
    }

    /** Records a device QEMU already has (on reattach). */
    public void restore(String deviceId, List<String> ioThreads) {
        synchronized (lock) {
            assigned.put(deviceId, List.copyOf(ioThreads));
        }
    }

    /** QEMU confirmed the device is gone. */
    public void unassign(String deviceId) {
        synchronized (lock) {
            assigned.remove(deviceId);
        }
    }

    /** Adds an IOThread QEMU created. */
    public void add(String id, Kind kind) {
        synchronized (lock) {
            members.put(id, kind);
        }
    }

    /**
     * Starts removing an IOThread: throws unless it is a pool IOThread no device uses
     * or reserves, and keeps new reservations off it until {@link #finishRemove}.
     */
    public void beginRemove(String id) {
        synchronized (lock) {
            checkPoolMember(id);
            List<String> users = devicesOn(id);
            int inFlight = reserved.getOrDefault(id, 0);
            if (!users.isEmpty() || inFlight > 0) {
                throw new RequestRejectedException(Reason.IN_USE, "IOThread '" + id + "' is in use by "
                        + (users.isEmpty() ? "" : "device(s) " + String.join(", ", users))
                        + (inFlight > 0 ? (users.isEmpty() ? "" : " and ") + inFlight + " attach(es) in flight" : "")
                        + "; detach them first");
            }
            removing.add(id);
        }
    }

    /** True while a removal of the IOThread is under way. */
    public boolean isRemoving(String id) {
        synchronized (lock) {
            return removing.contains(id);
        }
    }

    /** Ends a removal: forgets the IOThread when QEMU deleted it, else makes it usable again. */
    public void finishRemove(String id, boolean deleted) {
        synchronized (lock) {
            removing.remove(id);
            if (deleted) {
                members.remove(id);
            }
        }
    }
}
