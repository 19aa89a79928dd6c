package io.hvspi.spi;

import java.util.List;
import java.util.Locale;
import java.util.function.ToIntFunction;

/**
 * How a new device is given an IOThread from the pool. The rule is a pure
 * function so that every plugin, ours or a third party's, places devices the
 * same way and the TCK can check it.
 */
public enum IOThreadPolicy {
    /** Always the first IOThread: Kata's behaviour ({@code indep_iothread_0}). */
    FIRST("first"),
    /** The IOThreads in turn, whatever their load. */
    ROUND_ROBIN("round-robin"),
    /** The IOThread with the fewest devices; ties go to the earliest. The default. */
    LEAST_LOADED("least-loaded");

    private final String key;

    IOThreadPolicy(String key) {
        this.key = key;
    }

    /** The name in configuration ({@code indep_iothreads_policy}) and on the command line. */
    public String key() {
        return key;
    }

    /**
     * Picks an IOThread.
     *
     * @param pool the pool's ids in creation order; not empty
     * @param load how many devices use an IOThread
     * @param turn how many devices this VM has placed by policy before (round-robin's cursor)
     */
    public String choose(List<String> pool, ToIntFunction<String> load, long turn) {
        if (pool.isEmpty()) {
            throw new RequestRejectedException(RequestRejectedException.Reason.EXHAUSTED, "the IOThread pool is empty");
        }
        return switch (this) {
            case FIRST -> pool.get(0);
            case ROUND_ROBIN -> pool.get((int) Math.floorMod(turn, (long) pool.size()));
            case LEAST_LOADED -> {
                String best = pool.get(0);
                int bestLoad = load.applyAsInt(best);
                for (String id : pool) {
                    int l = load.applyAsInt(id);
                    if (l < bestLoad) {
                        best = id;
                        bestLoad = l;
                    }
                }
                yield best;
            }
        };
    }

    /** Parses a {@link #key()}; throws {@link IllegalArgumentException} naming the valid keys. */
    public static IOThreadPolicy fromKey(String key) {
        for (IOThreadPolicy p : values()) {
            if (p.key.equals(key.toLowerCase(Locale.ROOT))) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown IOThread policy '" + key + "' (expected first, round-robin or least-loaded)");
    }
}
