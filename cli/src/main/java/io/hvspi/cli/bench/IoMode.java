package io.hvspi.cli.bench;

import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadPolicy;
import java.util.Locale;
import java.util.Optional;

/** Where {@code hvctl bench io} puts its disks. */
public enum IoMode {
    /** Every disk on QEMU's main loop ({@link IOThreadChoice#mainLoop()}); the pool exists but stays idle. */
    MAIN("main", Optional.empty()),
    /** Kata's placement: every disk on {@code indep_iothread_0}. */
    FIRST("first", Optional.of(IOThreadPolicy.FIRST)),
    /** hvspi's default: each disk on the IOThread with the fewest devices, one per IOThread here. */
    LEAST_LOADED("least-loaded", Optional.of(IOThreadPolicy.LEAST_LOADED));

    private final String key;
    private final Optional<IOThreadPolicy> policy;

    IoMode(String key, Optional<IOThreadPolicy> policy) {
        this.key = key;
        this.policy = policy;
    }

    /** The name on the command line and in the report. */
    public String key() {
        return key;
    }

    /** The pool's policy for this mode ({@code main} keeps the configured one: no disk asks the pool). */
    IOThreadPolicy policy(IOThreadPolicy configured) {
        return policy.orElse(configured);
    }

    /** What each disk asks for. */
    IOThreadChoice choice() {
        return policy.isPresent() ? IOThreadChoice.byPolicy() : IOThreadChoice.mainLoop();
    }

    /** Parses a {@link #key()}; throws {@link IllegalArgumentException} naming the valid keys. */
    public static IoMode fromKey(String key) {
        for (IoMode m : values()) {
            if (m.key.equals(key.strip().toLowerCase(Locale.ROOT))) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown mode '" + key + "' (expected main, first or least-loaded)");
    }
}
