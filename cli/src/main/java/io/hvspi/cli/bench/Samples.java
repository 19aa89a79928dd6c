package io.hvspi.cli.bench;

import java.util.Arrays;

/** Durations of one measured step, in nanoseconds, and their summary. */
final class Samples {
    private long[] values = new long[16];
    private int size;

    void add(long nanos) {
        if (size == values.length) {
            values = Arrays.copyOf(values, size * 2);
        }
        values[size++] = nanos;
    }

    /** Median, 90th percentile, mean and minimum, in milliseconds. */
    BenchReport.Figures summary() {
        if (size == 0) {
            throw new IllegalStateException("no samples");
        }
        long[] sorted = Arrays.copyOf(values, size);
        Arrays.sort(sorted);
        double mean = Arrays.stream(sorted).average().orElse(0);
        return new BenchReport.Figures(size, ms(sorted[(size - 1) / 2]), ms(sorted[(int) Math.ceil(size * 0.9) - 1]),
                mean / 1e6, ms(sorted[0]));
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }
}
