package io.hvspi.sim.clh;

import java.nio.file.Path;
import java.time.Duration;

/**
 * The simulator as a process with Cloud Hypervisor's command line, so that a
 * script can stand in for the {@code cloud-hypervisor} binary and the plugin's
 * spawn path (argument list, readiness polling, {@code vmm.shutdown}, exit)
 * runs for real: {@code java -cp ... io.hvspi.sim.clh.ClhSimulatorMain
 * --api-socket path=/run/vm/clh-api.sock}. It exits 0 after {@code vmm.shutdown}.
 * Other options of the real binary are accepted and ignored.
 */
public final class ClhSimulatorMain {
    private ClhSimulatorMain() {}

    public static void main(String[] args) throws InterruptedException {
        Path socket = null;
        for (int i = 0; i < args.length; i++) {
            if ("--api-socket".equals(args[i]) && i + 1 < args.length) {
                String value = args[++i];
                socket = Path.of(value.startsWith("path=") ? value.substring("path=".length()) : value);
            }
        }
        if (socket == null) {
            System.err.println("usage: ClhSimulatorMain --api-socket path=<socket>");
            System.exit(2);
        }
        ClhSimulator sim = ClhSimulator.serve(socket, ClhSimulator.Options.defaults());
        Runtime.getRuntime().addShutdownHook(new Thread(sim::close));
        System.out.println("cloud-hypervisor simulator: serving " + socket);
        while (!sim.awaitShutdown(Duration.ofHours(1))) {
            // serve until vmm.shutdown or a signal
        }
        System.exit(0);
    }
}
