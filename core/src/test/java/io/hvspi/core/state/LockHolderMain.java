package io.hvspi.core.state;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A child JVM for the cross-process lock tests: takes the lock of VM {@code args[1]}
 * under root {@code args[0]}, prints {@code locked}, holds it until its stdin
 * says {@code release} or ends, then prints {@code released}.
 */
public final class LockHolderMain {
    private LockHolderMain() {}

    public static void main(String[] args) throws Exception {
        try (VmLock lock = VmLock.acquire(Path.of(args[0]), args[1], Duration.ofSeconds(30))) {
            System.out.println("locked " + ProcessHandle.current().pid());
            System.out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            String line;
            while ((line = in.readLine()) != null && !line.equals("release")) {
                // wait for the test
            }
        }
        System.out.println("released");
        System.out.flush();
    }
}
