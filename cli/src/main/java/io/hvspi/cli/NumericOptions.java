package io.hvspi.cli;

import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Converters that check hvctl's numeric options when they are parsed: range,
 * overflow and garbage end as a usage error (exit 2, one line naming the option
 * and the value), never as an internal error in a command body. picocli needs a
 * class with a no-argument constructor per range, hence one small class each.
 */
final class NumericOptions {
    private NumericOptions() {}

    /**
     * Splits a comma-separated list at commas followed by something, so that a trailing or
     * lone comma stays in an element and is refused by its converter (a plain "," split
     * drops empty trailing elements: {@code --disks ,} would be an empty list).
     */
    static final String LIST_SPLIT = ",(?=.)";

    /** Counts of VMs, disks, iterations: bounded so that no loop or array size overflows. */
    static final int MAX_COUNT = 100_000;
    /** virtio's queue limit (VIRTIO_QUEUE_MAX in QEMU). */
    static final int MAX_QUEUES = 1024;
    /** A null device's size in MiB whose byte count still fits a signed 64-bit integer. */
    static final long MAX_NULL_MIB = Long.MAX_VALUE >> 20;
    /** Timeouts and waits: a day is longer than any VMM command should take. */
    static final double MAX_SECONDS = 86_400;
    /** Guest memory in MiB: 1 TiB. */
    static final int MAX_MEMORY_MIB = 1 << 20;

    private abstract static class IntRange implements ITypeConverter<Integer> {
        private final long min;
        private final long max;

        IntRange(long min, long max) {
            this.min = min;
            this.max = max;
        }

        @Override
        public Integer convert(String value) {
            return (int) parseLong(value, min, max);
        }
    }

    /** 1 or more. */
    static final class Count extends IntRange {
        Count() {
            super(1, MAX_COUNT);
        }
    }

    /** 0 or more. */
    static final class CountOrZero extends IntRange {
        CountOrZero() {
            super(0, MAX_COUNT);
        }
    }

    /** run --disks: 0 to 64 (the hotplug slots run gives a VM). */
    static final class RunDisks extends IntRange {
        RunDisks() {
            super(0, 64);
        }
    }

    /** run --nics: 0 to 16. */
    static final class RunNics extends IntRange {
        RunNics() {
            super(0, 16);
        }
    }

    /** bench io --disks: 1 to 16 disks per case. */
    static final class IoDisks extends IntRange {
        IoDisks() {
            super(1, 16);
        }
    }

    /** A device's queue count. */
    static final class Queues extends IntRange {
        Queues() {
            super(1, MAX_QUEUES);
        }
    }

    /** Guest memory in MiB. */
    static final class MemoryMib extends IntRange {
        MemoryMib() {
            super(1, MAX_MEMORY_MIB);
        }
    }

    /** Whole seconds, at least one. */
    static final class WholeSeconds extends IntRange {
        WholeSeconds() {
            super(1, (long) MAX_SECONDS);
        }
    }

    /** A null device's size in MiB: its size in bytes must not overflow. */
    static final class NullMib implements ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            try {
                return parseLong(value, 1, MAX_NULL_MIB);
            } catch (TypeConversionException e) {
                throw new TypeConversionException(e.getMessage() + " MiB (the size in bytes must fit in 64 bits)");
            }
        }
    }

    /** A positive, finite number of seconds (fractions allowed) up to a day. */
    static final class Seconds implements ITypeConverter<Double> {
        @Override
        public Double convert(String value) {
            double d;
            // a plain decimal number: Double.parseDouble also takes 10d, 10f, 0x1p3, 1e3, NaN and Infinity
            if (!value.strip().matches("[0-9]+(\\.[0-9]*)?|\\.[0-9]+")) {
                throw new TypeConversionException("'" + value + "' is not a number of seconds: expected a decimal"
                        + " number such as 10 or 0.5");
            }
            try {
                d = Double.parseDouble(value.strip());
            } catch (NumberFormatException e) {
                throw new TypeConversionException("'" + value + "' is not a number of seconds");
            }
            // NaN fails both comparisons; a fraction under a millisecond would become a zero timeout
            if (!(d >= 0.001 && d <= MAX_SECONDS)) {
                throw new TypeConversionException("'" + value + "' is out of range: expected 0.001 to "
                        + (long) MAX_SECONDS + " seconds");
            }
            return d;
        }
    }

    /**
     * {@code ID:MAX_NS} or {@code ID:MAX_NS:GROW:SHRINK} of {@code vm iothreads --poll}: kept as
     * text for the command, checked here (QEMU takes each number as a signed 64-bit value, at least 0).
     */
    static final class Poll implements ITypeConverter<String> {
        @Override
        public String convert(String value) {
            String[] parts = value.split(":", -1);
            if ((parts.length != 2 && parts.length != 4) || parts[0].isEmpty()) {
                throw new TypeConversionException("'" + value + "' is not ID:MAX_NS or ID:MAX_NS:GROW:SHRINK");
            }
            String[] names = {"ID", "MAX_NS", "GROW", "SHRINK"};
            for (int i = 1; i < parts.length; i++) {
                try {
                    parseLong(parts[i], 0, Long.MAX_VALUE);
                } catch (TypeConversionException e) {
                    throw new TypeConversionException(names[i] + " in '" + value + "': " + e.getMessage());
                }
            }
            return value;
        }
    }

    /**
     * The {@code --iothread} CHOICE: {@code policy}, {@code none}, an id, or ids joined by commas;
     * kept as text for the command, checked here so that {@code ,} or {@code a,,b} name no empty id.
     */
    static final class IoThreadChoice implements ITypeConverter<String> {
        @Override
        public String convert(String value) {
            if (value.isEmpty()) {
                throw new TypeConversionException("'' is not an IOThread choice: expected policy, none, ID or ID,ID,...");
            }
            for (String id : value.split(",", -1)) {
                if (id.isEmpty()) {
                    throw new TypeConversionException("'" + value + "' has an empty IOThread id: expected ID or ID,ID,...");
                }
            }
            return value;
        }
    }

    /** A whole number from {@code min} to {@code max}; overflow and garbage say so. */
    static long parseLong(String value, long min, long max) {
        long n;
        try {
            n = Long.parseLong(value.strip());
        } catch (NumberFormatException e) {
            boolean digits = value.strip().matches("[+-]?[0-9]+");
            throw new TypeConversionException("'" + value + "' is "
                    + (digits ? "out of range" : "not a whole number") + ": expected " + min + " to " + max);
        }
        if (n < min || n > max) {
            throw new TypeConversionException("'" + value + "' is out of range: expected " + min + " to " + max);
        }
        return n;
    }
}
