package io.hvspi.core.host;

import io.hvspi.core.state.VmLock;
import io.hvspi.core.state.VmStopper;
import io.hvspi.core.metrics.HostMetrics;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.NetworkHotplug;
import io.hvspi.spi.RequestRejectedException;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * One VM as {@link HvspiHost} handed it out, holding the VM's cross-process lock
 * until it is closed. Closing is explicit about the VM's fate:
 * <ul>
 *   <li>a handle from {@link HvspiHost#start} <b>stops</b> its VM on close, unless
 *       {@link #keepRunning()} was called: an exception that leaves a
 *       try-with-resources block never leaks a VM, and the JVM's shutdown (SIGINT,
 *       SIGTERM, SIGHUP) stops it too;</li>
 *   <li>a handle from {@link HvspiHost#reattach} only disconnects: its VM existed
 *       before and keeps running.</li>
 * </ul>
 * Either way close releases the lock and disconnects. Safe for use from several threads.
 */
public final class VmHandle implements AutoCloseable {
    private final Hypervisor vm;
    /** The plugin's type as the host chose it: stop, close and the exit hook never ask the plugin. */
    private final String type;
    private final VmLock lock;
    private final VmStopper stopper;
    private final boolean startedHere;
    private final Consumer<VmHandle> onClose;
    private final AtomicBoolean closed = new AtomicBoolean();
    /** Readers are {@link #whileRunning} actions; a stop takes the write side once to end them. */
    private final ReentrantReadWriteLock running = new ReentrantReadWriteLock();
    private boolean stopping;
    private volatile boolean keep;

    private final HostMetrics metrics;

    /** @param stopper ends the VMM itself when the plugin's stop fails or hangs */
    VmHandle(Hypervisor vm, String type, VmLock lock, VmStopper stopper, boolean startedHere,
             Consumer<VmHandle> onClose, HostMetrics metrics) {
        this.vm = Objects.requireNonNull(vm, "vm");
        this.type = Objects.requireNonNull(type, "type");
        this.lock = Objects.requireNonNull(lock, "lock");
        this.stopper = Objects.requireNonNull(stopper, "stopper");
        this.startedHere = startedHere;
        this.onClose = onClose;
        this.metrics = Objects.requireNonNull(metrics, "metrics");
    }

    /** Where the guarded views record hotplug latency and errors. */
    HostMetrics metrics() {
        return metrics;
    }

    /** The VM's id, as it was asked for (the id its lock and record are kept under). */
    public String vmId() {
        return lock.vmId();
    }

    /** The plugin type, e.g. {@code qemu}. */
    public String type() {
        return type;
    }

    /**
     * The VM itself, for everything the SPI offers (state, capabilities, events,
     * pause and resume). Leave closing and stopping to this handle, and prefer its
     * {@link #hotplug()} and {@link #ioThreads()}, which a stop waits for.
     */
    public Hypervisor hypervisor() {
        return vm;
    }

    /**
     * Block device hotplug, or the uniform unsupported error. Changes through this view
     * and a stop through this handle never overlap (see {@link #whileRunning}).
     */
    public DeviceHotplug hotplug() {
        return new GuardedViews.Hotplug(vm.requireHotplug(), this);
    }

    /**
     * Network device hotplug, or the uniform unsupported error. Changes through this view
     * and a stop through this handle never overlap (see {@link #whileRunning}).
     */
    public NetworkHotplug networkHotplug() {
        return new GuardedViews.Network(vm.requireNetworkHotplug(), this);
    }

    /**
     * The independent IOThread pool, or the uniform unsupported error. Changes through
     * this view and a stop through this handle never overlap (see {@link #whileRunning}).
     */
    public IOThreadProvider ioThreads() {
        return new GuardedViews.IoThreads(vm.requireIoThreads(), this);
    }

    /** The VMM's process and threads, with host thread ids. */
    public HostThreads hostThreads() {
        return vm.hostThreads();
    }

    /** Whether this handle started the VM (and so stops it on close unless kept). */
    public boolean startedHere() {
        return startedHere;
    }

    /** Whether close leaves the VM running. */
    public boolean keepsRunning() {
        return !startedHere || keep;
    }

    /**
     * Leave the VM running when this handle closes or the JVM exits; reattach to it
     * later by id. Returns this handle.
     */
    public VmHandle keepRunning() {
        keep = true;
        StopOnExit.forget(this);
        return this;
    }

    /**
     * Runs {@code action} unless this VM is being stopped through this handle (close,
     * {@link #stop()}, or the JVM's exit), and keeps such a stop waiting until it ends.
     * For files the caller creates in the VM's runtime directory (disk images): the
     * stop's removal of that directory then never races their creation.
     *
     * @throws RequestRejectedException (INVALID_STATE) when the stop has begun
     */
    public <T> T whileRunning(Supplier<T> action) {
        running.readLock().lock();
        try {
            if (stopping) {
                throw new RequestRejectedException(RequestRejectedException.Reason.INVALID_STATE,
                        "VM '" + vmId() + "' is stopping");
            }
            return VmTaggedLogging.call(vmId(), action);
        } finally {
            running.readLock().unlock();
        }
    }

    /**
     * Stops the VM now (the VMM, its runtime directory and its record). Idempotent. The
     * plugin's stop is bounded (three command timeouts); when it fails or does not return,
     * the host ends the VM's VMM by signal, as {@link HvspiHost#stop(String)} does, and the
     * plugin's failure is only logged. It is thrown when no VMM of the VM is found on this
     * host (its record is then kept), and a VMM that survives the signals is an error too.
     */
    public void stop() {
        beginStop();
        String vmId = vmId();
        try {
            stopper.stopHeld(lock, type(), () -> VmTaggedLogging.call(vmId, () -> {
                vm.stop();
                return null;
            }));
        } catch (RuntimeException e) {
            // the record is kept and the VM may run on: it is running again for this handle, and a
            // later stop retries
            setStopping(false);
            throw e;
        }
    }

    /** Waits for running {@link #whileRunning} actions and refuses new ones. */
    private void beginStop() {
        if (running.getReadHoldCount() > 0) {
            throw new IllegalStateException("VM '" + vmId() + "' cannot be stopped from inside whileRunning");
        }
        setStopping(true);
    }

    private void setStopping(boolean value) {
        running.writeLock().lock();
        try {
            stopping = value;
        } finally {
            running.writeLock().unlock();
        }
    }

    /** Called by the JVM's shutdown hook: stops a VM started here and not kept. */
    void stopOnExit() {
        if (!keepsRunning()) {
            stop();
        }
    }

    /**
     * Stops the VM if this handle started it and it is not kept; then disconnects and releases
     * the lock. A failure of the stop is thrown, with one of the disconnect suppressed.
     *
     * @throws IllegalStateException from inside {@link #whileRunning}, where the stop would wait for
     *         itself; the handle stays open
     */
    @Override
    public void close() {
        if (!keepsRunning() && running.getReadHoldCount() > 0) {
            throw new IllegalStateException("VM '" + vmId() + "' cannot be closed from inside whileRunning");
        }
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        Throwable failure = null;
        try {
            if (!keepsRunning()) {
                stop();
            }
        } catch (RuntimeException | Error e) {
            failure = e;
        }
        try {
            stopper.disconnect(lock, type, vm::close);
        } catch (RuntimeException | Error e) {
            if (failure == null) {
                failure = e;
            } else {
                failure.addSuppressed(e);
            }
        } finally {
            lock.close();
            StopOnExit.forget(this);
            onClose.accept(this);
        }
        if (failure instanceof Error e) {
            throw e;
        }
        if (failure != null) {
            throw (RuntimeException) failure;
        }
    }

    @Override
    public String toString() {
        return "VmHandle[" + vmId() + ", " + type() + (startedHere ? ", started here" : ", reattached")
                + (keep ? ", kept" : "") + "]";
    }
}
