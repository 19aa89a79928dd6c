package io.hvspi.plugin.qemu.state;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The intents of the operations in flight in this process, in the order they
 * began; saved with every state save. Guarded by the VM's model lock (the one the
 * device table and the IOThread pool share), so that a saved snapshot holds the
 * intent together with the accounting it is about. An operation begins its intent
 * and saves before its first QMP command, and ends it in the save that records
 * its outcome.
 */
public final class PendingIntents {
    private final Object lock;
    /** By what it is about: one operation at a time per device or IOThread id. */
    private final Map<String, Intent> byKey = new LinkedHashMap<>();

    public PendingIntents(Object lock) {
        this.lock = lock;
    }

    private static String key(Intent i) {
        // block and network devices share one id space in QEMU
        return (i.aboutDevice() || i.aboutNic() ? "device:" : i.aboutPin() ? "pin:" : "iothread:") + i.id();
    }

    /** Records an intent; the caller saves the state next (with the lock held). */
    public void begin(Intent intent) {
        synchronized (lock) {
            byKey.put(key(intent), intent);
        }
    }

    /**
     * Records an intent and saves the state ({@code save} runs with the lock held), before
     * the operation's first QMP command; when the save fails the intent is forgotten again.
     */
    public void beginAndSave(Intent intent, Runnable save) {
        synchronized (lock) {
            begin(intent);
            try {
                save.run();
            } catch (RuntimeException e) {
                end(intent);
                throw e;
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
            return byKey.remove(key(intent), intent);
        }
    }

    /** Replaces one intent by another about the same thing (a move whose unplug became a detach). */
    public void replace(Intent old, Intent now) {
        synchronized (lock) {
            byKey.remove(key(old), old);
            byKey.put(key(now), now);
        }
    }

    public List<Intent> list() {
        synchronized (lock) {
            return new ArrayList<>(byKey.values());
        }
    }
}
