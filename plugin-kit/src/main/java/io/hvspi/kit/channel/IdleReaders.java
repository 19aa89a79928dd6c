package io.hvspi.kit.channel;

import java.util.Iterator;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * Brings a channel's background reader back once its callers have stopped reading for
 * {@link #LINGER_NANOS}: one thread for every channel of the class loader, awake only while
 * some reader is aside. A reader that came back at every caller's end would take the socket
 * again just before the next call, and the call would wait for it to step aside, a
 * wake-up per call; lingering keeps a busy channel in its callers' hands.
 */
final class IdleReaders {
    /**
     * How long a channel's callers must have been gone. Events and the peer's end that come
     * while no caller reads are read this much later at most, twice that in the worst case.
     */
    static final long LINGER_NANOS = 50_000_000;

    private static final Queue<JsonLineChannel> ASIDE = new ConcurrentLinkedQueue<>();
    private static Thread thread;

    private IdleReaders() {
    }

    /** Watches a channel whose background reader has stepped aside, until it can come back. */
    static void watch(JsonLineChannel channel) {
        if (channel.watched.compareAndSet(false, true)) {
            ASIDE.add(channel);
            LockSupport.unpark(thread());
        }
    }

    private static synchronized Thread thread() {
        if (thread == null) {
            thread = Thread.ofPlatform().daemon().name("json-line-idle-readers").start(IdleReaders::run);
        }
        return thread;
    }

    private static void run() {
        while (true) {
            if (ASIDE.isEmpty()) {
                LockSupport.park(); // watch() unparks: a channel added meanwhile leaves the permit
                continue;
            }
            LockSupport.parkNanos(LINGER_NANOS);
            long now = System.nanoTime();
            for (Iterator<JsonLineChannel> it = ASIDE.iterator(); it.hasNext(); ) {
                JsonLineChannel c = it.next();
                boolean ended = !c.isOpen();
                if (ended || c.idleSince(now)) {
                    it.remove();
                    // unwatched first: a caller sending the reader aside from here on is watched again
                    c.watched.set(false);
                    if (!ended) {
                        c.resumeReader();
                    }
                }
            }
        }
    }
}
