package io.hvspi.plugin.qemu.state;

import io.hvspi.spi.HvspiException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The intents of the operations in flight in this process, in the order they
 * began; saved with every state save. Guarded by the VM's model lock (the one the
 * device table and the IOThread pool share), so that a saved snapshot holds the
 * intent together with the accounting it is about. An operation begins its intent
 * and appends it to the VM's {@link IntentLog} before its first QMP command (one
 * line, not the whole record), and ends it in the record save that holds its outcome, or,
 * for an attach, in a second line that logs the outcome ({@link #finish}).
 */
public final class PendingIntents implements AutoCloseable {
    private final Object lock;
    private final IntentLog log;
    /** By what it is about: one operation at a time per device or IOThread id. */
    private final Map<String, InFlight> byKey = new LinkedHashMap<>();

    /** An intent in flight, with its encoding in the log (for its outcome line), or null when it was not logged. */
    private record InFlight(Intent intent, byte[] logged) {}

    public PendingIntents(Object lock, IntentLog log) {
        this.lock = lock;
        this.log = log;
    }

    /**
     * The intents a reattach settles: the record's, with those logged after it in their place
     * (one operation at a time per device or IOThread, so a later intent about the same one wins).
     */
    public static List<Intent> merge(List<Intent> recorded, List<Intent> logged) {
        Map<String, Intent> merged = new LinkedHashMap<>();
        for (Intent i : recorded) {
            merged.put(key(i), i);
        }
        for (Intent i : logged) {
            merged.remove(key(i));
            merged.put(key(i), i);
        }
        return new ArrayList<>(merged.values());
    }

    private static String key(Intent i) {
        // block and network devices share one id space in QEMU
        return (i.aboutDevice() || i.aboutNic() ? "device:" : i.aboutPin() ? "pin:" : "iothread:") + i.id();
    }

    /**
     * Records an intent and appends it to the log, before the operation's first QMP command;
     * when the log cannot be written the intent is not recorded and the operation must not start.
     */
    public void beginLogged(Intent intent) {
        synchronized (lock) {
            byKey.put(key(intent), new InFlight(intent, log.append(intent)));
        }
    }

    /** The last line logged: a record saved now (with the lock held) covers it. */
    public long lastLogged() {
        synchronized (lock) {
            return log.lastSeq();
        }
    }

    /** True when the log holds lines that no record save has covered yet (the caller holds the lock). */
    public boolean uncovered() {
        synchronized (lock) {
            return log.uncovered();
        }
    }

    /** Tells the log that a record covering {@link #lastLogged()} was saved (with the lock held); see {@link IntentLog#covered}. */
    public void saved(boolean compactNow) {
        synchronized (lock) {
            log.covered(compactNow);
        }
    }

    /**
     * Ends a confirmed attach by logging its outcome instead of saving the record (the caller
     * holds the lock, with the device confirmed in the model). Returns true when the caller
     * must save the record now: the log has grown past its compaction size, or the line could
     * not be written (the save then carries the outcome).
     *
     * @param policyTurn the round-robin cursor after the attach, or {@code null} when it placed nothing
     */
    public boolean finish(Intent intent, Long policyTurn) {
        synchronized (lock) {
            InFlight f = byKey.get(key(intent));
            byte[] json = f != null && f.intent().equals(intent) ? f.logged() : null;
            end(intent);
            try {
                log.appendDone(intent, json != null ? json : IntentLog.encode(intent), policyTurn);
                return log.wantsCompaction();
            } catch (HvspiException e) {
                return true;
            }
        }
    }

    /** Clears an intent that the save of the operation's outcome did not already clear (a failure), and saves. */
    public void endAndSave(Intent intent, Runnable save) {
        synchronized (lock) {
            if (end(intent)) {
                save.run();
            }
        }
    }

    /** Forgets this very intent; true when it was still there (so the caller saves). */
    public boolean end(Intent intent) {
        synchronized (lock) {
            InFlight f = byKey.get(key(intent));
            if (f == null || !f.intent().equals(intent)) {
                return false;
            }
            byKey.remove(key(intent));
            return true;
        }
    }

    /** Replaces one intent by another about the same thing (a move whose unplug became a detach). */
    public void replace(Intent old, Intent now) {
        synchronized (lock) {
            end(old);
            byKey.put(key(now), new InFlight(now, null));
        }
    }

    /**
     * Takes on an intent an earlier process left and this one carries on (a move whose unplug is
     * pending with the guest): it stays in every record save until the operation ends it.
     */
    public void adopt(Intent intent) {
        synchronized (lock) {
            byKey.put(key(intent), new InFlight(intent, null));
        }
    }

    public List<Intent> list() {
        synchronized (lock) {
            List<Intent> out = new ArrayList<>(byKey.size());
            byKey.values().forEach(f -> out.add(f.intent()));
            return out;
        }
    }

    /** Lets go of the log's file (the session ends). */
    @Override
    public void close() {
        synchronized (lock) {
            log.close();
        }
    }
}
