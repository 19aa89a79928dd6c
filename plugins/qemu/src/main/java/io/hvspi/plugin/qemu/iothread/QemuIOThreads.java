package io.hvspi.plugin.qemu.iothread;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.kit.threads.ThreadAffinity;
import io.hvspi.plugin.qemu.cmdline.QemuIds;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.state.Intent;
import io.hvspi.plugin.qemu.state.PendingIntents;
import io.hvspi.plugin.qemu.state.QemuState.IOThreadState;
import io.hvspi.spi.Capability;
import io.hvspi.spi.CpuSet;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.IOThreadInfo.Kind;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.PollingParams;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The IOThread pool of a running QEMU. Host thread ids and polling parameters
 * come from {@code query-iothreads} on every {@link #list()}; which devices use
 * which IOThread comes from hvspi's accounting, which changes only on QEMU's
 * confirmation. {@link #remove} refuses an IOThread in use: QEMU 7.2 itself would
 * delete it from under its devices.
 */
public final class QemuIOThreads implements IOThreadProvider {
    private static final Logger LOG = LoggerFactory.getLogger(QemuIOThreads.class);
    private final String type;
    private final QmpClient qmp;
    private final Object lock;
    private final IOThreadPool pool;
    private final Set<Capability> capabilities;
    private final PendingIntents intents;
    private final Runnable persist;
    private final IOThreadPins pins;
    /** The host threads the last {@code query-iothreads} named; see {@link #list()}. */
    private volatile long[] lastThreadIds = new long[0];

    /**
     * @param lock the monitor the pool shares with the device table
     * @param intents the VM's operations in flight: an add or removal records its intent there and logs it
     *                before its QMP command, and ends it in the save that records the outcome
     * @param persist saves the VM's state; called with {@code lock} held after each confirmed change
     * @param pins the VM's IOThread pins and pool placement
     */
    public QemuIOThreads(String type, QmpClient qmp, Object lock, IOThreadPool pool, Set<Capability> capabilities,
                         PendingIntents intents, Runnable persist, IOThreadPins pins) {
        this.type = type;
        this.qmp = qmp;
        this.lock = lock;
        this.pool = pool;
        this.capabilities = Set.copyOf(capabilities);
        this.intents = intents;
        this.persist = persist;
        this.pins = pins;
    }

    /** What {@code query-iothreads} says about one IOThread. */
    public record Live(long threadId, PollingParams polling) {}

    /** {@code query-iothreads}, by id. */
    public static Map<String, Live> query(QmpClient qmp) {
        return parse(qmp.execute("query-iothreads"));
    }

    private static Map<String, Live> parse(JsonNode reply) {
        Map<String, Live> out = new HashMap<>();
        for (JsonNode t : reply) {
            out.put(t.path("id").asText(), new Live(t.path("thread-id").asLong(),
                    new PollingParams(t.path("poll-max-ns").asLong(), t.path("poll-grow").asLong(),
                            t.path("poll-shrink").asLong())));
        }
        return out;
    }

    /**
     * Notes each IOThread's host thread as {@code query-iothreads} gave it, for the next
     * {@link #list()}; a reattach calls this with the query it made.
     */
    public void remember(Map<String, Live> live) {
        long[] tids = new long[live.size()];
        int n = 0;
        for (Live l : live.values()) {
            tids[n++] = l.threadId();
        }
        lastThreadIds = tids;
    }

    @Override
    public List<IOThreadInfo> list() {
        QmpClient.Call call = qmp.submit("query-iothreads", null);
        // While QEMU answers, read the affinity of the threads its last answer named: an IOThread
        // keeps its host thread for life, so this one names them again. A thread it names anew is
        // read after it; one it no longer names is not reported.
        long[] known = lastThreadIds;
        Map<Long, Optional<CpuSet>> affinities = new HashMap<>();
        for (long tid : known) {
            affinities.put(tid, pins.affinity(tid));
        }
        Map<String, Live> live = parse(qmp.await(call));
        remember(live);
        // a loop, not a stream: a listing's own code runs cold, as a VM's few calls do
        List<IOThreadState> members = pool.members();
        List<IOThreadInfo> out = new ArrayList<>(members.size());
        for (IOThreadState m : members) {
            out.add(info(m.id(), m.kind(), live.get(m.id()), affinities));
        }
        return Collections.unmodifiableList(out);
    }

    private IOThreadInfo info(String id, Kind kind, Live live) {
        return info(id, kind, live, Map.of());
    }

    /** @param affinities the affinities already read, by thread id; one missing is read now */
    private IOThreadInfo info(String id, Kind kind, Live live, Map<Long, Optional<CpuSet>> affinities) {
        if (live == null) {
            return new IOThreadInfo(id, kind, OptionalLong.empty(), pool.devicesOn(id), Optional.empty(),
                    Optional.empty(), pins.pinned(id));
        }
        Optional<CpuSet> affinity = affinities.get(live.threadId());
        return new IOThreadInfo(id, kind, OptionalLong.of(live.threadId()), pool.devicesOn(id),
                Optional.of(live.polling()), affinity != null ? affinity : pins.affinity(live.threadId()),
                pins.pinned(id));
    }

    @Override
    public IOThreadPolicy policy() {
        return pool.policy();
    }

    @Override
    public String choose() {
        return pool.choose();
    }

    @Override
    public IOThreadInfo add(String id) {
        require(Capability.IOTHREAD_RUNTIME_ADD);
        QemuIds.check(id, "IOThread");
        if (pool.kind(id).isPresent()) {
            throw new RequestRejectedException(Reason.DUPLICATE_ID, "IOThread '" + id + "' exists");
        }
        Intent intent = Intent.ioThreadAdd(id);
        begin(intent);
        try {
            return add(id, intent);
        } finally {
            end(intent);
        }
    }

    private void begin(Intent intent) {
        intents.beginLogged(intent);
    }

    private void end(Intent intent) {
        intents.endAndSave(intent, persist);
    }

    private IOThreadInfo add(String id, Intent intent) {
        QmpClient.Call call = qmp.submit("object-add", QmpClient.args().put("qom-type", "iothread").put("id", id));
        try {
            qmp.await(call);
        } catch (VmmUnavailableException e) {
            if (e.reason() == VmmUnavailableException.Reason.TIMED_OUT) {
                call.whenDone((reply, error) -> {
                    if (error == null) {
                        undoLateAdd(id);
                    }
                });
                throw new VmmUnavailableException(e.reason(), "add of IOThread '" + id + "': " + e.getMessage()
                        + "; should QEMU still create it, hvspi deletes it again", e);
            }
            throw e;
        } catch (VmmException e) {
            if (e.vmmMessage().contains("duplicate")) {
                // an object of another kind (or another client's IOThread) has the id
                throw new RequestRejectedException(Reason.DUPLICATE_ID,
                        "QEMU already has an object '" + id + "': " + e.vmmMessage());
            }
            throw e;
        }
        synchronized (lock) {
            pool.add(id, Kind.POOL);
            intents.end(intent);
            persist.run();
        }
        Live live = null;
        try {
            live = query(qmp).get(id);
        } catch (VmmUnavailableException e) {
            // QEMU confirmed the IOThread and was recorded with it: the add happened, only its thread id is unknown
            LOG.warn("IOThread '{}' was added, but its host thread id could not be read: {}", id, e.getMessage());
        }
        if (live != null) {
            placeNew(id, live.threadId());
        }
        return info(id, Kind.POOL, live);
    }

    /** An IOThread added at run time joins the pool's cgroup and CPU set; it exists whatever that gives. */
    private void placeNew(String id, long tid) {
        try {
            pins.placePoolThread(id, tid);
        } catch (HvspiException e) {
            LOG.warn("IOThread '{}' was added but not placed as the pool is ({}); it runs where QEMU started it",
                    id, e.getMessage());
        }
        synchronized (lock) {
            persist.run();
        }
    }

    /** A timed-out add that QEMU carried out later: a failed call leaves nothing behind. */
    private void undoLateAdd(String id) {
        try {
            qmp.execute("object-del", QmpClient.args().put("id", id));
            LOG.info("deleted IOThread '{}' that QEMU created after its add timed out", id);
        } catch (HvspiException e) {
            LOG.warn("cannot delete IOThread '{}' that QEMU created after its add timed out: {}", id, e.getMessage());
        }
    }

    @Override
    public void remove(String id) {
        require(Capability.IOTHREAD_RUNTIME_ADD);
        pool.beginRemove(id);
        Intent intent = Intent.ioThreadRemove(id);
        try {
            begin(intent);
        } catch (RuntimeException e) {
            synchronized (lock) {
                pool.finishRemove(id, false);
            }
            throw e;
        }
        try {
            remove(id, intent);
        } finally {
            end(intent);
        }
    }

    private void remove(String id, Intent intent) {
        QmpClient.Call call;
        try {
            call = qmp.submit("object-del", QmpClient.args().put("id", id));
        } catch (RuntimeException e) {
            finishRemove(id, false);
            throw e;
        }
        try {
            qmp.await(call);
        } catch (VmmUnavailableException e) {
            if (e.reason() == VmmUnavailableException.Reason.TIMED_OUT) {
                // QEMU may still delete it: keep it out of placement until QEMU answers, then record the answer
                call.whenDone((reply, error) -> finishRemove(id, error == null));
                throw new VmmUnavailableException(e.reason(), "removal of IOThread '" + id + "': " + e.getMessage()
                        + "; no device is placed on it until QEMU answers", e);
            }
            finishRemove(id, false);
            throw e;
        } catch (RuntimeException e) {
            finishRemove(id, false);
            throw e;
        }
        finishRemove(id, true);
    }

    private void finishRemove(String id, boolean deleted) {
        synchronized (lock) {
            pool.finishRemove(id, deleted);
            if (deleted) {
                pins.forget(id);
                intents.end(Intent.ioThreadRemove(id));
                persist.run();
            }
        }
    }

    @Override
    public void setPolling(String id, PollingParams polling) {
        require(Capability.IOTHREAD_POLLING);
        if (pool.kind(id).isEmpty()) {
            throw new RequestRejectedException(Reason.NOT_FOUND, "no IOThread '" + QemuIds.shown(id) + "'");
        }
        String path = "/objects/" + id;
        // poll-max-ns last: with grow and shrink in place before polling starts at the new ceiling
        qomSet(path, "poll-grow", polling.grow());
        qomSet(path, "poll-shrink", polling.shrink());
        qomSet(path, "poll-max-ns", polling.maxNs());
    }

    @Override
    public IOThreadInfo pin(String id, CpuSet cpus) {
        require(Capability.IOTHREAD_PINNING);
        Kind kind = known(id);
        IOThreadPins.checkOnHost(cpus, "CPU set");
        Live live = threadOf(id);
        Intent intent = Intent.pin(id, cpus.toString());
        begin(intent);
        try {
            // under the lock a removal cannot begin: the thread is QEMU's IOThread's until the pin is recorded
            synchronized (lock) {
                requireThread(id, live);
                ThreadAffinity.set(live.threadId(), cpus);
                pins.record(id, pins.applied(live.threadId(), cpus));
                intents.end(intent);
                persist.run();
            }
        } finally {
            end(intent);
        }
        return info(id, kind, live);
    }

    /**
     * Back to every CPU the VMM process may use (QEMU's main thread's affinity; every CPU of the
     * host when that cannot be read); the kernel narrows that to the thread's cpuset cgroup.
     */
    @Override
    public IOThreadInfo unpin(String id) {
        require(Capability.IOTHREAD_PINNING);
        Kind kind = known(id);
        Live live = threadOf(id);
        Intent intent = Intent.unpin(id);
        begin(intent);
        try {
            synchronized (lock) {
                requireThread(id, live);
                pins.unpin(id, kind, live.threadId());
                intents.end(intent);
                persist.run();
            }
        } finally {
            end(intent);
        }
        return info(id, kind, live);
    }

    private Kind known(String id) {
        return pool.kind(id).orElseThrow(() -> new RequestRejectedException(Reason.NOT_FOUND,
                "no IOThread '" + QemuIds.shown(id) + "'"));
    }

    /**
     * Refuses a pin or unpin of an IOThread being removed (or gone), and of a host thread that is
     * not QEMU's ({@code /proc/PID/task/TID}, where QEMU's pid is known): a removal may have ended
     * the thread, and the kernel may have given its id to another. Called with the lock held.
     */
    private void requireThread(String id, Live live) {
        if (pool.isRemoving(id) || pool.kind(id).isEmpty()) {
            throw new RequestRejectedException(Reason.INVALID_STATE, "IOThread '" + QemuIds.shown(id) + "' is "
                    + (pool.isRemoving(id) ? "being removed" : "gone"));
        }
        if (!pins.ownThread(live.threadId())) {
            throw new RequestRejectedException(Reason.NOT_FOUND, "the host thread " + live.threadId()
                    + " of IOThread '" + QemuIds.shown(id) + "' is no longer QEMU's");
        }
    }

    private Live threadOf(String id) {
        Live live = query(qmp).get(id);
        if (live == null || live.threadId() <= 0) {
            throw new RequestRejectedException(Reason.NOT_FOUND, "QEMU reports no host thread for IOThread '"
                    + QemuIds.shown(id) + "'");
        }
        return live;
    }

    private void qomSet(String path, String property, long value) {
        qmp.execute("qom-set", QmpClient.args().put("path", path).put("property", property).put("value", value));
    }

    private void require(Capability c) {
        if (!capabilities.contains(c)) {
            throw new UnsupportedCapabilityException(c, type);
        }
    }
}
