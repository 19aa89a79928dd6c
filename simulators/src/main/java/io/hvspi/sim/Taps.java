package io.hvspi.sim;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Optional;

/**
 * How a simulated VMM opens a host tap by name, as the real ones do with
 * {@code TUNSETIFF} on {@code /dev/net/tun}: an existing interface that is not a
 * tun/tap (say {@code lo}) is refused with {@code EINVAL}; a tap, or a name no
 * interface has (the real VMM would create it, given {@code CAP_NET_ADMIN}), is
 * accepted. The simulator creates nothing on the host.
 */
public final class Taps {
    private static final Path SYS_NET = Path.of("/sys/class/net");
    private static final SecureRandom RANDOM = new SecureRandom();

    private Taps() {}

    /** The OS error opening tap {@code name} would give, as Rust's {@code io::Error} prints it, or empty. */
    public static Optional<String> open(String name) {
        Path link = SYS_NET.resolve(name);
        if (name.isEmpty() || name.length() > 15 || name.contains("/")) {
            return Optional.of("Invalid argument (os error 22)");
        }
        if (Files.exists(link) && !Files.exists(link.resolve("tun_flags"))) {
            return Optional.of("Invalid argument (os error 22)");
        }
        return Optional.empty();
    }

    /** A random locally administered unicast MAC, as {@code MacAddr::local_random()} makes. */
    public static String randomLocalMac() {
        byte[] octets = new byte[6];
        RANDOM.nextBytes(octets);
        octets[0] = (byte) ((octets[0] & 0xfc) | 0x02);
        return HexFormat.ofDelimiter(":").formatHex(octets);
    }
}
