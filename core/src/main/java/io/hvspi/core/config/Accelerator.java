package io.hvspi.core.config;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * hvspi's {@code accel} key. {@code auto} (the default) picks KVM where this host
 * can use it and TCG otherwise, so the same configuration starts on a laptop, on a
 * cloud VM without nested virtualisation, and in CI; {@code kvm} and {@code tcg}
 * force one.
 */
public final class Accelerator {
    public static final String AUTO = "auto";
    /** Every value the key takes. */
    public static final List<String> KEYS = List.of(AUTO, "kvm", "tcg");
    static final Path KVM_DEVICE = Path.of("/dev/kvm");

    private Accelerator() {}

    /** The accelerator a VM gets, and one line saying why. */
    public record Choice(String accel, String reason) {}

    public static Choice choose(String configured) {
        return choose(configured, KVM_DEVICE);
    }

    static Choice choose(String configured, Path kvmDevice) {
        if (!AUTO.equals(configured)) {
            return new Choice(configured, "accel = \"" + configured + "\" in the configuration");
        }
        if (!Files.exists(kvmDevice)) {
            return new Choice("tcg", "auto: " + kvmDevice + " is missing, so software emulation");
        }
        if (!Files.isReadable(kvmDevice) || !Files.isWritable(kvmDevice)) {
            return new Choice("tcg", "auto: " + kvmDevice + " is not readable and writable by this user, so TCG");
        }
        return new Choice("kvm", "auto: " + kvmDevice + " is usable");
    }
}
