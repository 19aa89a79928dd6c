package io.hvspi.plugin.qemu.qmp;

import io.hvspi.spi.VmmUnavailableException;

/** Receives the events of one QMP connection, on the subscription's own thread, in arrival order. */
public interface QmpListener {

    void onEvent(QmpEvent event);

    /** The connection ended (QEMU exited, a protocol error, or {@link QmpClient#close()}); no more events follow. */
    default void onDisconnect(VmmUnavailableException cause) {}
}
