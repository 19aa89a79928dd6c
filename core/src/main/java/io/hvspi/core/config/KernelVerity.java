package io.hvspi.core.config;

import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * {@code kernel_verity_params} ({@code root_hash=...,salt=...,data_blocks=N,data_block_size=N,hash_block_size=N})
 * checked as the runtime owning the file parses it: Go {@code virtcontainers/hypervisor.go:
 * ParseKernelVerityParams}, runtime-rs kata-types {@code config/hypervisor/mod.rs:
 * parse_kernel_verity_params}. They differ in small ways, kept here: Go refuses an
 * empty {@code root_hash} and reads numbers with {@code strconv.ParseUint} (no sign);
 * runtime-rs refuses an empty key, accepts an empty {@code root_hash} and takes a
 * {@code +} (Rust's {@code u64::from_str}). The messages are the runtime's own.
 */
final class KernelVerity {
    /** VERITY_BLOCK_SIZE_BYTES / verityBlockSizeBytes: block sizes are multiples of it. */
    static final long BLOCK = 512;

    private KernelVerity() {}

    /** Why {@code runtime} refuses {@code params}, or empty when it accepts them (a blank value included). */
    static Optional<String> problem(String params, KataRuntime runtime) {
        boolean go = runtime == KataRuntime.GO;
        if (params.isBlank()) {
            return Optional.empty();
        }
        Map<String, String> values = new HashMap<>();
        for (String f : params.split(",", -1)) {
            String field = f.strip();
            if (field.isEmpty()) {
                continue;
            }
            int eq = field.indexOf('=');
            if (eq < 0 || (!go && eq == 0)) {
                return Optional.of(message(go, "invalid kernel_verity_params entry: " + Locator.show(field)));
            }
            values.put(field.substring(0, eq), field.substring(eq + 1));
        }
        String rootHash = values.get("root_hash");
        if (rootHash == null || (go && rootHash.isEmpty())) {
            return Optional.of(message(go, "missing kernel_verity_params root_hash"));
        }
        long[] numbers = new long[3];
        String[] names = {"data_blocks", "data_block_size", "hash_block_size"};
        for (int i = 0; i < names.length; i++) {
            String value = values.get(names[i]);
            if (value == null || value.isEmpty()) {
                return Optional.of(message(go, "missing kernel_verity_params " + names[i]));
            }
            String digits = !go && value.startsWith("+") ? value.substring(1) : value;
            if (digits.isEmpty() || digits.length() > 20 || !digits.chars().allMatch(c -> c >= '0' && c <= '9')
                    || new java.math.BigInteger(digits).bitLength() > 64) {
                return Optional.of(message(go, "invalid kernel_verity_params " + names[i] + " "
                        + Locator.show(value) + ": expected an unsigned 64-bit integer"));
            }
            numbers[i] = Long.parseUnsignedLong(digits);
        }
        if (values.getOrDefault("salt", "").isEmpty()) {
            return Optional.of(message(go, "missing kernel_verity_params salt"));
        }
        for (int i = 0; i < names.length; i++) {
            if (numbers[i] == 0) {
                return Optional.of(message(go, "invalid kernel_verity_params " + names[i] + ": must be non-zero"));
            }
        }
        for (int i = 1; i < names.length; i++) {
            if (Long.remainderUnsigned(numbers[i], BLOCK) != 0) {
                return Optional.of(message(go, "invalid kernel_verity_params " + names[i] + ": must be multiple of "
                        + BLOCK));
            }
        }
        return Optional.empty();
    }

    /** Go's messages start lower-case, runtime-rs's upper-case. */
    private static String message(boolean go, String text) {
        return go ? text : Character.toUpperCase(text.charAt(0)) + text.substring(1);
    }
}
