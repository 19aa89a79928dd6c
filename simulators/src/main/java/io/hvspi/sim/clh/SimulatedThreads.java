package io.hvspi.sim.clh;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * Real, named platform threads standing in for the VMM's own (its vCPUs,
 * {@code vcpu<i>}, and block queue workers, {@code <id>_q<i>}), so that
 * {@code /proc/<pid>/task/<tid>/comm} shows what it would show for Cloud
 * Hypervisor. They only wait until stopped. Linux truncates the name to 15
 * bytes, as it does for the real VMM's threads.
 */
final class SimulatedThreads {
    private final CountDownLatch stop = new CountDownLatch(1);
    private final List<Thread> threads = new ArrayList<>();

    /** Starts one thread per name and returns once all of them run. */
    static SimulatedThreads start(List<String> names) {
        SimulatedThreads group = new SimulatedThreads();
        CountDownLatch started = new CountDownLatch(names.size());
        for (String name : names) {
            group.threads.add(Thread.ofPlatform().name(name).daemon().start(() -> {
                started.countDown();
                try {
                    group.stop.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }));
        }
        try {
            started.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return group;
    }

    /** Ends the threads and waits for them, so that they are gone from /proc when this returns. */
    void stop() {
        stop.countDown();
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
