package io.hvspi.kit.device;

import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * MAC addresses for network devices: the checked form a caller may give, and generated
 * ones. A generated MAC is locally administered and unicast (IEEE 802: bit 1 of the first
 * octet set, bit 0 clear), so it never collides with a vendor's, and differs from every MAC
 * the plugin already uses and from every interface's MAC on this host ({@code /sys/class/net},
 * as read at most a second before).
 * 46 random bits make a clash between two hosts' guests on one link unlikely too.
 */
public final class MacAddresses {
    /** Six lower- or upper-case hex octets separated by colons. */
    public static final Pattern MAC = Pattern.compile("[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}");

    /**
     * The random bits of generated MACs. A MAC is no secret (every frame carries it); what
     * matters is that guests of different hosts do not meet on one link, so a fast generator
     * seeded once per JVM from the system's {@link SecureRandom}, which reads {@code /dev/urandom}
     * and mixes it through SHA-1 on every call: a MAC took 65 us of a NIC attach's own 0.4 ms
     * with it, 46 us without (code the JIT has not compiled yet, where a VM's few hotplugs run).
     */
    private static final SplittableRandom RANDOM = new SplittableRandom(new SecureRandom().nextLong());
    private static final HexFormat OCTETS = HexFormat.ofDelimiter(":");
    private static final Path SYS_NET = Path.of("/sys/class/net");

    private MacAddresses() {
    }

    /** The MAC in lower case, or {@code INVALID_ARGUMENT} naming it: malformed, multicast or all zero. */
    public static String check(String type, String mac) {
        if (mac == null || !MAC.matcher(mac).matches()) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT, type + ": invalid MAC '" + mac
                    + "': expected six hex octets separated by ':', e.g. 52:54:00:12:34:56");
        }
        String lower = mac.toLowerCase(Locale.ROOT);
        if ((firstOctet(lower) & 1) != 0) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT, type + ": MAC '" + mac
                    + "' is a multicast address; a NIC needs a unicast one (first octet even)");
        }
        if (lower.equals("00:00:00:00:00:00")) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT, type + ": MAC '" + mac + "' is all zero");
        }
        return lower;
    }

    /** A fresh locally administered unicast MAC, not in {@code taken} nor on any host interface. */
    public static String generate(Set<String> taken) {
        return generate(taken, MacAddresses::randomMac);
    }

    static String generate(Set<String> taken, Supplier<String> source) {
        Set<String> host = hostMacs();
        for (int attempt = 0; attempt < 1000; attempt++) {
            String mac = source.get();
            if (!host.contains(mac) && !containsIgnoringCase(taken, mac)) {
                return mac;
            }
        }
        throw new IllegalStateException("no free MAC after 1000 attempts: the random source repeats");
    }

    private static boolean containsIgnoringCase(Set<String> macs, String mac) {
        for (String m : macs) {
            if (m.equalsIgnoreCase(mac)) {
                return true;
            }
        }
        return false;
    }

    /** True for a locally administered unicast MAC. */
    public static boolean isLocalUnicast(String mac) {
        int first = firstOctet(mac);
        return (first & 0b10) != 0 && (first & 0b01) == 0;
    }

    static String randomMac() {
        byte[] octets = new byte[6];
        synchronized (RANDOM) { // SplittableRandom is not thread-safe
            RANDOM.nextBytes(octets);
        }
        octets[0] = (byte) ((octets[0] & 0xfc) | 0x02);
        return OCTETS.formatHex(octets);
    }

    /** How long a reading of the host's MACs serves: sysfs reads cost more than the rest of a NIC attach's own work. */
    static final long HOST_MACS_FRESH_NANOS = 1_000_000_000L;

    /** The host's interface MACs as read at {@code readAt} ({@link System#nanoTime()}). */
    record HostMacs(Set<String> macs, long readAt) {
        static final HostMacs NONE = new HostMacs(Set.of(), Long.MIN_VALUE);

        boolean freshAt(long now) {
            return this != NONE && now - readAt < HOST_MACS_FRESH_NANOS;
        }
    }

    private static final AtomicReference<HostMacs> LAST_READ = new AtomicReference<>(HostMacs.NONE);

    /** The MACs of this host's interfaces (and those in the same network namespace). */
    static Set<String> hostMacs() {
        return hostMacs(SYS_NET, LAST_READ, System.nanoTime());
    }

    /**
     * The MACs of the interfaces in {@code sysNet}, as {@code last} holds them when they were read
     * less than {@link #HOST_MACS_FRESH_NANOS} before {@code now}, else read afresh. The check is a
     * snapshot in any case (an interface made or changed just after it was never covered); one a
     * second old changes nothing that matters, since a clash needs 46 random bits to meet a host's MAC.
     */
    static Set<String> hostMacs(Path sysNet, AtomicReference<HostMacs> last, long now) {
        HostMacs known = last.get();
        if (known.freshAt(now)) {
            return known.macs();
        }
        Set<String> macs = new HashSet<>();
        String[] names = sysNet.toFile().list();
        for (String name : names == null ? new String[0] : names) { // null: no sysfs here, nothing to avoid
            try (InputStream in = new FileInputStream(sysNet.resolve(name).resolve("address").toFile())) {
                macs.add(new String(in.readAllBytes(), StandardCharsets.US_ASCII).strip().toLowerCase(Locale.ROOT));
            } catch (IOException e) {
                // an interface that went away while listing, or one without an address: nothing to avoid
            }
        }
        HostMacs read = new HostMacs(Set.copyOf(macs), now);
        last.set(read);
        return read.macs();
    }

    private static int firstOctet(String mac) {
        return Integer.parseInt(mac.substring(0, 2), 16);
    }
}
