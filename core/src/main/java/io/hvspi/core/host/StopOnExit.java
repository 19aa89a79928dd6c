package io.hvspi.core.host;

import io.hvspi.spi.HvspiException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Stops, when the JVM exits, every VM that a {@link VmHandle} started and did not
 * keep. The JVM runs shutdown hooks on SIGINT, SIGTERM and SIGHUP as on
 * {@code System.exit}; it does not on SIGKILL (the plugin's record then lets
 * {@code hvctl vm stop} clean up).
 *
 * <p>A handle is watched before its plugin spawns anything, so a signal during
 * start is covered: the hook's stop waits for the plugin's start to finish (the
 * QEMU plugin orders the two on one lock) and then stops what it started. Once the
 * hook has run, no new VM may be started: {@link #watch} refuses.
 *
 * <p>Resources registered with {@link HvspiHost#closeOnExit} (what a VM depends on outside
 * itself, such as a simulator of its VMM) are closed after every stop has ended (or outlived its
 * bound), newest first, each within its own bound: a second hook would run beside this one and
 * could take them away from a stop in progress.
 */
final class StopOnExit {
    private static final Logger LOG = LoggerFactory.getLogger(StopOnExit.class);
    private static final Object LOCK = new Object();
    /** Each watched handle with how long the hook waits for its stop. */
    private static final Map<VmHandle, Duration> HANDLES = new LinkedHashMap<>();
    private static final Set<ClosedOnExit> RESOURCES = new LinkedHashSet<>();
    private static boolean installed;
    private static boolean exiting;

    private StopOnExit() {}

    /**
     * Watches a handle whose VM is about to start; throws when the JVM is already exiting. On
     * exit its stop is waited for up to {@code stopBound}: a plugin whose stop hangs must not
     * keep the JVM alive (the VM's record is then left for a later stop).
     */
    static void watch(VmHandle handle, Duration stopBound) {
        synchronized (LOCK) {
            installUnlessExiting("not starting VM '" + handle.vmId() + "'");
            HANDLES.put(handle, stopBound);
        }
    }

    static void forget(VmHandle handle) {
        synchronized (LOCK) {
            HANDLES.remove(handle);
        }
    }

    /** Watches a resource to close at exit; throws when the JVM is already exiting. */
    static void watch(ClosedOnExit resource) {
        synchronized (LOCK) {
            installUnlessExiting("not registering " + resource + " to close on exit");
            RESOURCES.add(resource);
        }
    }

    static void forget(ClosedOnExit resource) {
        synchronized (LOCK) {
            RESOURCES.remove(resource);
        }
    }

    private static void installUnlessExiting(String refused) {
        if (exiting) {
            throw new HvspiException(refused + ": the JVM is shutting down");
        }
        if (!installed) {
            Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().name("hvspi-stop-on-exit")
                    .unstarted(StopOnExit::stopAll));
            installed = true;
        }
    }

    /** The handles still watched (for tests). */
    static List<VmHandle> watched() {
        synchronized (LOCK) {
            return List.copyOf(HANDLES.keySet());
        }
    }

    /**
     * Stops every watched VM, all at once (each stop is bounded by the plugin's timeouts), then
     * closes the watched resources.
     */
    private static void stopAll() {
        Map<VmHandle, Duration> handles;
        synchronized (LOCK) {
            exiting = true;
            handles = new LinkedHashMap<>(HANDLES);
        }
        long started = System.nanoTime();
        Map<VmHandle, Thread> stoppers = new LinkedHashMap<>();
        for (VmHandle handle : handles.keySet()) {
            stoppers.put(handle, Thread.ofPlatform().daemon().name("hvspi-stop-" + handle.vmId()).start(() -> {
                try {
                    handle.stopOnExit();
                } catch (RuntimeException | Error e) {
                    LOG.warn("could not stop VM '{}' on exit: {}", handle.vmId(),
                            e instanceof Error ? e.toString() : e.getMessage());
                }
            }));
        }
        for (Map.Entry<VmHandle, Thread> stopper : stoppers.entrySet()) {
            VmHandle handle = stopper.getKey();
            Duration bound = handles.get(handle);
            try {
                if (!stopper.getValue().join(bound.minusNanos(System.nanoTime() - started))) {
                    LOG.warn("VM '{}' did not stop within {} ms on exit (its {} plugin's stop has not returned);"
                            + " exiting without it: its record is kept for a later stop", handle.vmId(),
                            bound.toMillis(), handle.type());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        List<ClosedOnExit> resources;
        synchronized (LOCK) {
            resources = new ArrayList<>(RESOURCES);
        }
        for (ClosedOnExit resource : resources.reversed()) {
            // bounded: a close that hangs must not keep the JVM from exiting
            Thread closer = Thread.ofPlatform().daemon().name("hvspi-close-on-exit").start(() -> {
                try {
                    resource.closeOnce();
                } catch (RuntimeException e) {
                    LOG.warn("could not close {} on exit: {}", resource, e.getMessage());
                }
            });
            try {
                if (!closer.join(resource.exitBound())) {
                    LOG.warn("{} did not close within {} ms on exit; exiting without it", resource,
                            resource.exitBound().toMillis());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
