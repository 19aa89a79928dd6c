package io.hvspi.core.config;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A memory size as runtime-rs reads the {@code default_memory} annotation
 * (kata-types {@code annotations/mod.rs: convert_to_megabytes}, which calls
 * {@code byte_unit::Byte::parse_str(value, true)}): digits alone are MiB; a
 * number with a unit is bytes in that unit ({@code kB}, {@code MB}, ... are powers
 * of 1000, {@code KiB}, {@code MiB}, ... powers of 1024, case-insensitive), then
 * whole MiB, rounded down ({@code get_adjusted_unit(MiB).get_value() as u32}).
 */
final class ByteSize {
    private static final Pattern SIZE = Pattern.compile("([0-9]+(?:\\.[0-9]+)?)\\s*([kmgtp]i?)?(b)?",
            Pattern.CASE_INSENSITIVE);
    private static final Map<String, BigDecimal> UNITS = Map.of(
            "k", BigDecimal.valueOf(1000L), "ki", BigDecimal.valueOf(1L << 10),
            "m", BigDecimal.valueOf(1000_000L), "mi", BigDecimal.valueOf(1L << 20),
            "g", BigDecimal.valueOf(1000_000_000L), "gi", BigDecimal.valueOf(1L << 30),
            "t", BigDecimal.valueOf(1000_000_000_000L), "ti", BigDecimal.valueOf(1L << 40),
            "p", BigDecimal.valueOf(1000_000_000_000_000L), "pi", BigDecimal.valueOf(1L << 50));
    private static final BigDecimal MIB = BigDecimal.valueOf(1L << 20);

    private ByteSize() {}

    private static final BigInteger LONG_MAX = BigInteger.valueOf(Long.MAX_VALUE);

    /**
     * Whole MiB, or empty when the value is not a size runtime-rs reads; a size
     * beyond {@code long} is {@link Long#MAX_VALUE} (saturated, as Rust's {@code as u32}
     * saturates), which the caller's range check refuses.
     */
    static Optional<Long> mebibytes(String value) {
        String v = value.strip();
        if (v.length() > 40) {
            return Optional.empty();
        }
        if (!v.isEmpty() && v.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return Optional.of(saturated(new BigInteger(v))); // no suffix: MiB
        }
        Matcher m = SIZE.matcher(v);
        if (!m.matches() || (m.group(2) == null && m.group(3) == null)) {
            return Optional.empty();
        }
        BigDecimal bytes = new BigDecimal(m.group(1));
        if (m.group(2) != null) {
            if (m.group(3) == null) {
                return Optional.empty(); // "2 Gi" or "2 G": not a byte unit
            }
            bytes = bytes.multiply(UNITS.get(m.group(2).toLowerCase(Locale.ROOT)));
        }
        return Optional.of(saturated(bytes.divideToIntegralValue(MIB).toBigIntegerExact()));
    }

    private static long saturated(BigInteger n) {
        return n.compareTo(LONG_MAX) > 0 ? Long.MAX_VALUE : n.longValueExact();
    }
}
