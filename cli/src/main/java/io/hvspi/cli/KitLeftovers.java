package io.hvspi.cli;

import io.hvspi.core.state.JsonVmStateStore;
import io.hvspi.core.state.RuntimeDirs;
import io.hvspi.core.state.VmLock;
import io.hvspi.core.state.VmStopper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * What {@code hvctl compat} leaves when it is ended by a signal mid-run: the kit's VMs run on the
 * plugins directly, without the host's exit hook, so on exit every VMM recorded or found under the
 * work directory's runtime roots ({@code <work>/<run>/run/<vm>}) is ended by signal, and the
 * directory removed once none is left.
 */
final class KitLeftovers implements AutoCloseable {
    private static final Duration BOUND = Duration.ofSeconds(2);
    private final Path work;
    private final Runnable abandonRun;

    /** @param abandonRun ends the kit's run first (its backend closes and refuses new VMs) */
    KitLeftovers(Path work, Runnable abandonRun) {
        this.work = work;
        this.abandonRun = abandonRun;
    }

    @Override
    public void close() throws IOException {
        if (!Files.isDirectory(work)) {
            return; // removed after a run that ended normally
        }
        abandonRun.run();
        // the run's thread may still be inside plugin code that writes under the work root (a start in
        // flight): swept again while it comes back, within the bound
        long deadline = System.nanoTime() + BOUND.toNanos();
        while (sweep() && System.nanoTime() - deadline < 0) {
            java.util.concurrent.locks.LockSupport.parkNanos(100_000_000L);
        }
    }

    /** One sweep; true when the work root was removed, so that a late write would show. */
    private boolean sweep() throws IOException {
        if (!Files.isDirectory(work)) {
            return true;
        }
        boolean left = false;
        try (Stream<Path> runs = Files.list(work)) {
            for (Path root : runs.map(r -> r.resolve("run")).filter(Files::isDirectory).toList()) {
                left |= endVmsUnder(root);
            }
        }
        if (!left) {
            RuntimeDirs.deleteTree(work);
        }
        return !left;
    }

    /** Ends the VMs under one runtime root; true when one could not be ended. */
    private static boolean endVmsUnder(Path root) throws IOException {
        VmStopper stopper = new VmStopper(new JsonVmStateStore(root), BOUND, BOUND);
        List<Path> vms;
        try (Stream<Path> dirs = Files.list(root)) {
            vms = dirs.filter(d -> !d.getFileName().toString().startsWith(".") && Files.isDirectory(d)).toList();
        }
        boolean left = false;
        for (Path vm : vms) {
            try (VmLock lock = VmLock.acquire(root, vm.getFileName().toString(), BOUND)) {
                stopper.stop(lock, Optional.empty());
            } catch (RuntimeException e) {
                left = true;
            }
        }
        return left;
    }
}
