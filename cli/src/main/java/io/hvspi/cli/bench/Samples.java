package io.hvspi.cli.bench;

import java.util.Arrays;

/** Durations of one measured step, in nanoseconds, and their summary. Safe to add to from several threads. */
final class Samples {
    private long[] values = new long[16];
    private int size;

    synchronized void add(long nanos) {
        if (size == values.length) {
            values = Arrays.copyOf(values, size * 2);
        }
        values[size++] = nanos;
    }

    /** Median, 90th percentile, mean and minimum, in milliseconds. */
    synchronized BenchReport.Figures summary() {
        long[] sorted = sorted();
        double mean = Arrays.stream(sorted).average().orElse(0);
        return new BenchReport.Figures(size, median(sorted) / 1e6, ms(rank(sorted, 0.9)), mean / 1e6,
                ms(sorted[0]));
    }

    /** Median, 90th and 99th percentile, maximum and mean, in milliseconds. */
    synchronized ScaleReport.Latency latency() {
        long[] sorted = sorted();
        return new ScaleReport.Latency(size, ScaleReport.round(median(sorted) / 1e6),
                ScaleReport.round(ms(rank(sorted, 0.9))), ScaleReport.round(ms(rank(sorted, 0.99))),
                ScaleReport.round(ms(sorted[size - 1])),
                ScaleReport.round(Arrays.stream(sorted).average().orElse(0) / 1e6));
    }

    /**
     * The median of {@code framework[i] / raw[i]}: both sides' samples taken in turns, one pair per
     * iteration, so that what drifts during a run (the machine's load, the host's other guests) is
     * in both halves of every pair. The ratio of the two medians mixes samples minutes apart.
     */
    static double pairedMedianRatio(Samples framework, Samples raw) {
        long[] fw = framework.snapshot();
        long[] rw = raw.snapshot();
        if (fw.length != rw.length || fw.length == 0) {
            throw new IllegalStateException("paired samples: " + fw.length + " against " + rw.length);
        }
        double[] ratios = new double[fw.length];
        for (int i = 0; i < fw.length; i++) {
            ratios[i] = (double) fw[i] / rw[i];
        }
        Arrays.sort(ratios);
        // the median as summary() takes it: of an even count, the mean of the two middle values
        int mid = ratios.length / 2;
        return ratios.length % 2 == 1 ? ratios[mid] : (ratios[mid - 1] + ratios[mid]) / 2;
    }

    /**
     * The median of sorted values: the middle one, or of an even count the mean of the two middle
     * ones, as ScaleReport.median and scripts/bench-start.sh take it.
     */
    static double median(long[] sorted) {
        int mid = sorted.length / 2;
        return sorted.length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + (double) sorted[mid]) / 2;
    }

    private synchronized long[] snapshot() {
        return Arrays.copyOf(values, size);
    }

    private long[] sorted() {
        if (size == 0) {
            throw new IllegalStateException("no samples");
        }
        long[] sorted = snapshot();
        Arrays.sort(sorted);
        return sorted;
    }

    /** The nearest-rank percentile: the smallest sample with at least {@code q} of all at or below it. */
    private static long rank(long[] sorted, double q) {
        return sorted[(int) Math.ceil(sorted.length * q) - 1];
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }
}
