package io.hvspi.kit.lifecycle;

import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmUnavailableException;
import java.util.Locale;

/**
 * A VM's life as the SPI defines it: {@code CREATED -> RUNNING/PAUSED -> STOPPED}
 * (or {@code FAILED} when the VMM dies), with the checks and the uniform
 * {@code INVALID_STATE} refusals every plugin needs. A VM starts once: a stopped
 * VM is not started again; a start that fails returns to {@code CREATED}.
 *
 * <p>It holds what the plugin was told and did, not what the VMM says now: a
 * plugin's {@code state()} asks its VMM while {@link #isStarted()}.
 * Thread-safe.
 */
public final class Lifecycle {
    private final String type;
    private final String vmId;
    private VmState state;
    private boolean starting;
    /** The state {@link #beginStop()} left, for {@link #stopFailed()} to return to. */
    private VmState beforeStop;

    private Lifecycle(String type, String vmId, VmState state) {
        this.type = type;
        this.vmId = vmId;
        this.state = state;
    }

    /** A VM the factory made: {@code CREATED}. */
    public static Lifecycle created(String type, String vmId) {
        return new Lifecycle(type, vmId, VmState.CREATED);
    }

    /** A VM an earlier process started, found {@code RUNNING} or {@code PAUSED}. */
    public static Lifecycle reattached(String type, String vmId, VmState found) {
        requireLive(found);
        return new Lifecycle(type, vmId, found);
    }

    public synchronized VmState state() {
        return state;
    }

    /** Started, not stopped, and the VMM not known dead. */
    public synchronized boolean isStarted() {
        return state == VmState.RUNNING || state == VmState.PAUSED;
    }

    public synchronized boolean isStopped() {
        return state == VmState.STOPPED;
    }

    /** Begins a start; refuses a VM that was started (or is starting) already. */
    public synchronized void beginStart() {
        if (state != VmState.CREATED || starting) {
            throw new RequestRejectedException(Reason.INVALID_STATE, type + ": VM '" + vmId
                    + "' was already started (state " + name(starting ? VmState.CREATED : state) + ")");
        }
        starting = true;
    }

    /** The start succeeded; the VM is {@code RUNNING}, or {@code PAUSED} when it waits to boot. */
    public synchronized void started(VmState now) {
        requireLive(now);
        starting = false;
        state = now;
    }

    /** The start failed and was cleaned up: the VM may be started again. */
    public synchronized void startFailed() {
        starting = false;
        state = VmState.CREATED;
    }

    /**
     * Begins a stop: false when there is nothing to do (already stopped); the VM counts
     * as stopped from here on (calls begun after it are refused), unless the stop gives
     * up with {@link #stopFailed()}.
     */
    public synchronized boolean beginStop() {
        if (state == VmState.STOPPED) {
            return false;
        }
        beforeStop = state;
        state = VmState.STOPPED;
        return true;
    }

    /**
     * The stop begun could not prove the VMM gone and kept the VM's record: the VM is in
     * the state it had before {@link #beginStop()} again, so that a later stop retries.
     */
    public synchronized void stopFailed() {
        if (state == VmState.STOPPED && beforeStop != null) {
            state = beforeStop;
            beforeStop = null;
        }
    }

    public synchronized void paused() {
        if (isStarted()) {
            state = VmState.PAUSED;
        }
    }

    public synchronized void resumed() {
        if (isStarted()) {
            state = VmState.RUNNING;
        }
    }

    /** The VMM died without being asked to stop; true when this changed the state (report it once). */
    public synchronized boolean failed() {
        if (state == VmState.STOPPED || state == VmState.FAILED || state == VmState.CREATED && !starting) {
            return false;
        }
        state = VmState.FAILED;
        return true;
    }

    /**
     * Refuses {@code action} unless the VM runs or is paused: {@code INVALID_STATE} before
     * the start and after the stop; {@link VmmUnavailableException} ({@code EXITED}) once the
     * VMM died, as a call to it would.
     *
     * @param action what the caller tried, as a verb phrase: {@code "pause"}, {@code "attach 'd1' to"}
     */
    public synchronized void requireStarted(String action) {
        if (state == VmState.FAILED) {
            throw new VmmUnavailableException(VmmUnavailableException.Reason.EXITED, type + ": cannot " + action
                    + " VM '" + vmId + "': its VMM is gone");
        }
        if (!isStarted()) {
            throw new RequestRejectedException(Reason.INVALID_STATE, type + ": cannot " + action + " VM '" + vmId
                    + "': it is " + (state == VmState.CREATED ? "not started" : name(state)));
        }
    }

    private static String name(VmState s) {
        return s.name().toLowerCase(Locale.ROOT);
    }

    private static void requireLive(VmState s) {
        if (s != VmState.RUNNING && s != VmState.PAUSED) {
            throw new IllegalArgumentException("a started VM is RUNNING or PAUSED, not " + s);
        }
    }
}
