package io.hvspi.plugin.qemu.hotplug;

import io.hvspi.spi.HvspiException;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The host taps hvspi creates for NICs it is asked to give a new tap, and removes
 * again: with iproute2's {@code ip}, always as an argument list (the name is checked
 * by {@code NetBackend.Tap} and never passes through a shell). Creating a tap needs
 * CAP_NET_ADMIN, as it does for Kata's runtime.
 */
public final class HostTaps {
    private static final Logger LOG = LoggerFactory.getLogger(HostTaps.class);
    private static final Path SYS_NET = Path.of("/sys/class/net");
    private static final long TIMEOUT_SECONDS = 10;

    private HostTaps() {}

    /** True when an interface of that name exists in hvspi's network namespace. */
    public static boolean exists(String name) {
        return Files.exists(SYS_NET.resolve(name));
    }

    /**
     * Whether the tap was made for several queues ({@code IFF_MULTI_QUEUE}, 0x100, in
     * {@code /sys/class/net/NAME/tun_flags}); QEMU cannot open a single-queue tap for more.
     * Empty when that cannot be read (not a tun/tap device).
     */
    public static Optional<Boolean> multiQueue(String name) {
        try {
            String flags = Files.readString(SYS_NET.resolve(name).resolve("tun_flags")).strip();
            return Optional.of((Integer.decode(flags) & 0x100) != 0);
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    /**
     * Creates the tap and sets it up. A name already in use is refused ({@code DUPLICATE_ID}):
     * hvspi never takes over an interface it did not create.
     */
    public static void create(String name, int queues) {
        if (exists(name)) {
            throw new RequestRejectedException(Reason.DUPLICATE_ID, "host interface '" + name + "' already exists;"
                    + " to use a tap you made, pass it without asking hvspi to create it");
        }
        List<String> add = new ArrayList<>(List.of("ip", "tuntap", "add", "dev", name, "mode", "tap"));
        if (queues > 1) {
            add.add("multi_queue"); // QEMU opens one queue per pair; a single-queue tap refuses the second
        }
        run(add);
        try {
            run(List.of("ip", "link", "set", "dev", name, "up"));
        } catch (HvspiException e) {
            removeQuietly(name);
            throw e;
        }
    }

    /** Removes a tap hvspi created; one already gone is fine. */
    public static void remove(String name) {
        if (!isTap(name)) {
            // gone already, or not a tun/tap device: a name from a tampered record must not take
            // down eth0 or a bridge
            if (exists(name)) {
                LOG.warn("not removing host interface '{}': it is not a tun/tap device", name);
            }
            return;
        }
        run(List.of("ip", "link", "del", "dev", name));
    }

    /** Whether {@code name} is a tun/tap device ({@code /sys/class/net/NAME/tun_flags}), the only kind hvspi makes. */
    static boolean isTap(String name) {
        return !name.isEmpty() && !name.contains("/") && !name.equals(".") && !name.equals("..")
                && Files.isRegularFile(SYS_NET.resolve(name).resolve("tun_flags"));
    }

    /** Removes a tap, logging rather than throwing: for clean-up after another failure or at stop. */
    public static void removeQuietly(String name) {
        try {
            remove(name);
        } catch (HvspiException e) {
            LOG.warn("cannot remove host tap '{}': {}", name, e.getMessage());
        }
    }

    private static void run(List<String> argv) {
        Process p;
        try {
            p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new HvspiException("cannot run " + String.join(" ", argv) + ": " + e.getMessage()
                    + " (hvspi needs iproute2's 'ip' to manage taps)", e);
        }
        try {
            p.getOutputStream().close();
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new HvspiException(String.join(" ", argv) + " did not finish within " + TIMEOUT_SECONDS + " s");
            }
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (p.exitValue() != 0) {
                throw new HvspiException(String.join(" ", argv) + " failed (exit " + p.exitValue() + "): "
                        + out.replace('\n', ' '));
            }
        } catch (IOException e) {
            throw new HvspiException("cannot read the output of " + String.join(" ", argv) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new HvspiException("interrupted while running " + String.join(" ", argv), e);
        }
    }
}
