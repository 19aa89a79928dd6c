package com.example.hanging;

import io.hvspi.tck.fault.FaultFactory;
import org.pf4j.Extension;

/**
 * Two factories in one plugin whose stop is broken: stopsoe throws StackOverflowError,
 * stophang never returns. They are the tck's own {@link FaultFactory} (its source is packaged
 * into this plugin by {@code CompatCommandIT}): the VMM is a real process, {@code tail -f
 * <runtime dir>/vmm.log}, recorded as a plugin records its VMM.
 */
public final class HangingFactories {
    private HangingFactories() {}

    @Extension
    public static final class StopSoe extends FaultFactory {
        public StopSoe() {
            super("stopsoe", Fault.STOP_SOE);
        }
    }

    @Extension
    public static final class StopHang extends FaultFactory {
        public StopHang() {
            super("stophang", Fault.STOP_HANG);
        }
    }
}
