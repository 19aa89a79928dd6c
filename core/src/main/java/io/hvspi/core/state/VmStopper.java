package io.hvspi.core.state;

import io.hvspi.core.plugin.PluginCall;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Stops a VM and proves it: the record and the runtime directory go only once no
 * process is left that is the VM's VMM.
 *
 * <p>The VMM is whatever {@link VmmProcess} can prove: the record's identity when it
 * is verified alive, and every plausible VMM process that a {@code /proc} scan finds
 * naming the VM's runtime directory, which is always {@code <root>/<vmId>} and never
 * a path read from the record. So a corrupt record, a record without a pid, or a pid
 * edited to another process still stops the right one, and nothing else is signalled
 * or deleted. The order is: the plugin's own stop (bounded), then SIGTERM and SIGKILL
 * of each VMM still verified alive, then a fresh scan; only when that finds nothing
 * are the record and the directory removed, else this throws and keeps both.
 *
 * <p>The caller holds the VM's {@link VmLock} (it is a parameter to say so), so no
 * other hvspi process works on the VM meanwhile.
 */
public final class VmStopper {
    private static final Logger LOG = LoggerFactory.getLogger(VmStopper.class);

    private final JsonVmStateStore store;
    private final Duration pluginStopTimeout;
    private final Duration signalGrace;

    /**
     * @param pluginStopTimeout how long the plugin's stop may take before it is abandoned
     * @param signalGrace how long to wait after SIGTERM, and again after SIGKILL
     */
    public VmStopper(JsonVmStateStore store, Duration pluginStopTimeout, Duration signalGrace) {
        this.store = store;
        this.pluginStopTimeout = pluginStopTimeout;
        this.signalGrace = signalGrace;
    }

    /** What a stop did. */
    public record Outcome(String vmId, boolean pluginStopped, List<Long> signalled, Optional<String> pluginFailure) {
        /** One line for an operator. */
        public String describe() {
            StringBuilder s = new StringBuilder("stopped VM '" + vmId + "'");
            if (!signalled.isEmpty()) {
                s.append(": signalled VMM pid ").append(signalled.stream().map(String::valueOf)
                        .collect(java.util.stream.Collectors.joining(", ")));
                pluginFailure.ifPresent(f -> s.append(" after the plugin's stop failed (").append(f).append(')'));
            }
            return s.toString();
        }
    }

    /**
     * Stops the VM of {@code lock}.
     *
     * @param pluginStop the plugin's own stop (reattach and stop), run first when present;
     *        bounded by the plugin stop timeout, its failure only leads to signals
     * @throws RequestRejectedException (NOT_FOUND) when there is no record, no directory and no VMM
     * @throws HvspiException when a VMM is still running afterwards; record and directory are kept
     * @throws VmmUnavailableException (TIMED_OUT) when the plugin's stop timed out on its VMM and no VMM
     *         of the VM runs on this host to end (one reached at an endpoint); record and directory are kept
     */
    public Outcome stop(VmLock lock, Optional<Runnable> pluginStop) {
        String vmId = lock.vmId();
        Path dir = runtimeDir(vmId);
        Optional<VmmIdentity> recorded = recordedIdentity(vmId);
        boolean exists = Files.exists(dir, LinkOption.NOFOLLOW_LINKS);
        // found before the plugin runs: its stop may remove the record while the VMM lives on
        Map<Long, VmmProcess> vmms = findVmms(dir, recorded);
        if (!exists && vmms.isEmpty()) {
            throw notFound(vmId);
        }
        Optional<Failed> failed = pluginStop.flatMap(stop -> runBounded(lock, "the plugin's stop", stop));
        if (failed.isPresent() && vmms.isEmpty() && mayStillRun(failed.get().thrown())) {
            // a VMM the plugin reaches at an endpoint, unanswering: no signal reaches it, and its record is
            // the only way to find it again
            throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT, "VM '" + vmId
                    + "': the plugin's stop gave " + failed.get().line() + ", and no VMM of the VM runs on this"
                    + " host to end by signal; its record is kept for a later stop", failed.get().thrown());
        }
        Optional<String> pluginFailure = failed.map(Failed::line);
        List<Long> signalled = endAndForget(vmId, dir, recorded, vmms);
        return new Outcome(vmId, pluginStop.isPresent() && pluginFailure.isEmpty(), signalled, pluginFailure);
    }

    /**
     * Stops the VM of a handle this process holds: the plugin's own stop, bounded; when it
     * fails or does not return, the VMM is ended by signal as {@link #stop} does and only
     * then are the record and the directory removed.
     *
     * @param plugin the plugin's type, for messages
     * @throws RuntimeException what the plugin's stop threw, or a {@code VmmUnavailableException}
     *         (TIMED_OUT) when it did not return, if no VMM of the VM is found on this host to end
     *         (it may run where no signal reaches, so its record is kept)
     * @throws HvspiException when a VMM is still running after the signals (the plugin's
     *         failure suppressed); record and directory are kept
     */
    public void stopHeld(VmLock lock, String plugin, Runnable pluginStop) {
        Optional<Failed> failed = runBounded(lock, "the " + plugin + " plugin's stop", pluginStop);
        if (failed.isEmpty()) {
            return;
        }
        String vmId = lock.vmId();
        // any Throwable: an Error in the plugin's stop (a StackOverflowError, an OutOfMemoryError) must
        // not skip the signals either
        Throwable failure = failed.get().thrown() != null ? failed.get().thrown()
                : new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT, "the " + plugin
                        + " plugin's stop of VM '" + vmId + "' gave " + failed.get().line() + ", and no VMM of the"
                        + " VM runs on this host to end by signal; its record is kept for a later stop");
        Path dir = runtimeDir(vmId);
        Optional<VmmIdentity> recorded = recordedIdentity(vmId);
        Map<Long, VmmProcess> vmms = findVmms(dir, recorded);
        if (vmms.isEmpty()) {
            throw unchecked(failure);
        }
        LOG.warn("VM '{}': the {} plugin's stop failed ({}); ending its VMM by signal", vmId, plugin,
                failed.get().line());
        try {
            endAndForget(vmId, dir, recorded, vmms);
        } catch (HvspiException survivors) {
            survivors.addSuppressed(failure);
            throw survivors;
        }
        if (failure instanceof VirtualMachineError jvmTrouble && !(failure instanceof StackOverflowError)) {
            throw jvmTrouble; // the VM is gone; the JVM's own trouble is still its caller's
        }
    }

    /**
     * Runs a plugin's disconnect ({@code Hypervisor.close()}) on its own thread, given up past
     * the plugin stop timeout: a close that never returns must not keep the caller for ever.
     * The VM's lock stays held until it returns, as for a stop: a late close may still save
     * the record.
     *
     * @throws RuntimeException what the close threw
     * @throws VmmUnavailableException (TIMED_OUT) when it did not return in time
     */
    public void disconnect(VmLock lock, String plugin, Runnable close) {
        String vmId = lock.vmId();
        Optional<Failed> failed = runBounded(lock, "the " + plugin + " plugin's close", close);
        if (failed.isEmpty()) {
            return;
        }
        if (failed.get().thrown() != null) {
            throw unchecked(failed.get().thrown());
        }
        throw new VmmUnavailableException(VmmUnavailableException.Reason.TIMED_OUT, "the " + plugin
                + " plugin's close of VM '" + vmId + "' gave " + failed.get().line() + "; disconnected without it");
    }

    /**
     * Throws what {@link #stop} throws when there is nothing to stop (no directory, no VMM running
     * from it), without a lock: a stop of an id that has no VM then leaves no lock file behind.
     * Only a hint: a VM that appears meanwhile is found by the stop under the lock.
     *
     * @throws RequestRejectedException (NOT_FOUND) when there is no VM of that id
     */
    public void requireSomethingToStop(String vmId) {
        Path dir = runtimeDir(vmId);
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS) && findVmms(dir, Optional.empty()).isEmpty()) {
            throw notFound(vmId);
        }
    }

    private RequestRejectedException notFound(String vmId) {
        return new RequestRejectedException(RequestRejectedException.Reason.NOT_FOUND, "no VM '" + vmId
                + "' under " + store.root());
    }

    private Path runtimeDir(String vmId) {
        return store.root().toAbsolutePath().normalize().resolve(RuntimeDirs.checkVmId(vmId));
    }

    /**
     * Ends each of {@code vmms} still alive (SIGTERM, then SIGKILL), scans again, and removes
     * the record and {@code dir} once no VMM is left; returns the pids signalled.
     *
     * @throws HvspiException when a VMM survives; record and directory are kept
     */
    private List<Long> endAndForget(String vmId, Path dir, Optional<VmmIdentity> recorded,
                                    Map<Long, VmmProcess> vmms) {
        List<Long> signalled = new ArrayList<>();
        for (VmmProcess vmm : vmms.values()) {
            if (vmm.isAlive()) {
                signalled.add(vmm.identity().pid());
                LOG.info("VM '{}': ending {} by signal", vmId, vmm);
                vmm.terminate(signalGrace);
            }
        }
        List<String> survivors = new ArrayList<>();
        for (VmmProcess vmm : vmms.values()) {
            if (vmm.isAlive()) {
                survivors.add(vmm.toString());
            }
        }
        for (VmmProcess vmm : findVmms(dir, recorded).values()) {
            if (!vmms.containsKey(vmm.identity().pid())) {
                survivors.add(vmm.toString());
            }
        }
        if (!survivors.isEmpty()) {
            throw new HvspiException("cannot stop VM '" + vmId + "': " + String.join(", ", survivors)
                    + " still runs after SIGTERM and SIGKILL; kept its record and " + dir);
        }
        // the tree first: it holds the record, also one that is no longer a file (a directory in its place
        // could not be removed as a record, and the stop would fail after its VMM was gone)
        RuntimeDirs.deleteTree(dir);
        store.remove(vmId);
        return signalled;
    }

    /** The identity from a valid record, else empty (a corrupt record is reported, not trusted). */
    private Optional<VmmIdentity> recordedIdentity(String vmId) {
        try {
            return store.loadStored(vmId).flatMap(JsonVmStateStore.Stored::identity);
        } catch (HvspiException e) {
            LOG.warn("VM '{}': {}; looking for its VMM through /proc", vmId, e.getMessage());
            return Optional.empty();
        }
    }

    /**
     * The recorded VMM when verified alive, and every VMM a scan finds for {@code dir}:
     * with the recorded executable when it is a plausible VMM, else plausible ones only.
     */
    private static Map<Long, VmmProcess> findVmms(Path dir, Optional<VmmIdentity> recorded) {
        Map<Long, VmmProcess> found = new LinkedHashMap<>();
        recorded.map(id -> new VmmProcess(id, dir)).filter(VmmProcess::isAlive)
                .ifPresent(v -> found.put(v.identity().pid(), v));
        Optional<java.nio.file.Path> exe = recorded.map(VmmIdentity::exe).filter(VmmProcess::isPlausibleVmm);
        for (VmmProcess v : VmmProcess.findByRuntimeDir(dir, exe)) {
            found.putIfAbsent(v.identity().pid(), v);
        }
        return found;
    }

    /** How a plugin's stop failed: what it threw, or null when it did not return in time; and that in one line. */
    private record Failed(Throwable thrown, String line) {}

    /**
     * Whether a plugin's failed stop leaves a VMM that may still run: it says it timed out waiting for
     * the VMM (a plugin that ends its VMM by proof throws that and keeps the record); an exited or
     * absent VMM, or a plugin's own bug, says nothing of the kind.
     */
    private static boolean mayStillRun(Throwable thrown) {
        return thrown instanceof VmmUnavailableException u && u.reason() == VmmUnavailableException.Reason.TIMED_OUT;
    }

    /**
     * Runs the plugin's stop on its own thread, abandoned past the timeout; how it failed, if it
     * did. An abandoned call still runs and may yet remove (or, a close, write) the VM's record,
     * directory or taps, so the VM's lock stays held until it returns: a new VM of the same id
     * waits for it, and is never undone by it.
     */
    private Optional<Failed> runBounded(VmLock lock, String whose, Runnable pluginCode) {
        return switch (PluginCall.run("hvspi-plugin-stop", pluginStopTimeout, pluginCode)) {
            case PluginCall.Returned<Void> returned -> Optional.empty();
            case PluginCall.Threw<Void> threw -> Optional.of(new Failed(threw.thrown(), threw.line()));
            case PluginCall.TimedOut<Void> timedOut -> {
                lock.keepUntil(timedOut.done(), whose + " of VM '" + lock.vmId() + "', which has not returned ("
                        + timedOut.line() + ")");
                yield Optional.of(new Failed(null, timedOut.line()));
            }
        };
    }

    private static RuntimeException unchecked(Throwable failure) {
        if (failure instanceof Error error) {
            throw error;
        }
        return failure instanceof RuntimeException e ? e : new HvspiException(String.valueOf(failure.getMessage()),
                failure);
    }
}
