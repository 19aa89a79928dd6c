package io.hvspi.cli.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The two taps the NIC benchmark needs for its run, made and removed with iproute2 (argument lists). */
final class BenchTaps {
    private static final Path TUN = Path.of("/dev/net/tun");

    private BenchTaps() {}

    /** Whether this process may make taps: /dev/net/tun opens read-write for root (CAP_NET_ADMIN). */
    static boolean usable() {
        return Files.isReadable(TUN) && Files.isWritable(TUN);
    }

    static void create(String name) {
        run(List.of("ip", "tuntap", "add", "dev", name, "mode", "tap"));
        run(List.of("ip", "link", "set", "dev", name, "up"));
    }

    static void remove(String name) {
        if (Files.exists(Path.of("/sys/class/net", name))) {
            run(List.of("ip", "link", "del", "dev", name));
        }
    }

    private static void run(List<String> argv) {
        try {
            Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
            p.getOutputStream().close();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new io.hvspi.spi.HvspiException(String.join(" ", argv) + " did not finish within 10 s");
            }
            String out = new String(p.getInputStream().readAllBytes()).strip();
            if (p.exitValue() != 0) {
                throw new io.hvspi.spi.HvspiException(String.join(" ", argv) + " failed (exit " + p.exitValue() + "): " + out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + String.join(" ", argv) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new io.hvspi.spi.HvspiException("interrupted while running " + String.join(" ", argv), e);
        }
    }
}
