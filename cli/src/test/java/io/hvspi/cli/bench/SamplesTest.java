package io.hvspi.cli.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** What bench hotplug computes from its samples: the paired ratio against the ratio of the medians. */
class SamplesTest {
    /**
     * A run whose load climbs (each pair slower than the one before) and one hvspi sample hit by a
     * hiccup: each median is taken from another moment of the run, the paired one from samples
     * taken side by side.
     */
    @Test
    void thePairedRatioComparesSamplesTakenSideBySide() {
        Samples framework = new Samples();
        Samples raw = new Samples();
        long[][] pairs = {{140, 100}, {121, 110}, {330, 300}}; // hvspi, raw: the first hvspi sample hiccuped
        for (long[] p : pairs) {
            framework.add(p[0]);
            raw.add(p[1]);
        }
        BenchReport.Metric m = BenchReport.Metric.of("start", "a run whose load climbs", framework, raw);
        assertEquals(1.1, m.pairedRatio(), 1e-9);
        assertEquals(140.0 / 110.0, m.ratio(), 1e-9, "the hiccup over a raw sample from another moment");
    }

    /**
     * The same median everywhere: of an even count, the mean of the middle two, as ScaleReport.median
     * and scripts/bench-start.sh take it (the summaries once took the lower of the two).
     */
    @Test
    void anEvenCountAveragesTheMiddleTwoEverywhere() {
        Samples framework = new Samples();
        Samples raw = new Samples();
        long[][] pairs = {{100, 100}, {120, 100}, {130, 100}, {200, 100}};
        for (long[] p : pairs) {
            framework.add(p[0]);
            raw.add(p[1]);
        }
        assertEquals(1.25, Samples.pairedMedianRatio(framework, raw), 1e-9);
        assertEquals(125e-6, framework.summary().medianMs(), 1e-12, "the summary's median of 100, 120, 130, 200 ns");
        assertEquals(ScaleReport.median(new double[] {100, 120, 130, 200}) / 1e6, framework.summary().medianMs(), 1e-12);
        Samples ms = new Samples();
        for (long v : new long[] {4_000_000, 1_000_000, 2_000_000, 3_000_000}) {
            ms.add(v);
        }
        assertEquals(2.5, ms.latency().p50Ms(), 1e-9);
        ms.add(5_000_000); // an odd count: the middle one
        assertEquals(3.0, ms.latency().p50Ms(), 1e-9);
        assertEquals(3.0, ms.summary().medianMs(), 1e-9);
    }

    @Test
    void samplesThatAreNotPairsAreRefused() {
        Samples framework = new Samples();
        Samples raw = new Samples();
        framework.add(1);
        framework.add(2);
        raw.add(1);
        assertThrows(IllegalStateException.class, () -> Samples.pairedMedianRatio(framework, raw));
        assertThrows(IllegalStateException.class, () -> Samples.pairedMedianRatio(new Samples(), new Samples()));
    }
}
