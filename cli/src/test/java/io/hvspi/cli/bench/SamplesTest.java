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

    /** The same median as each side's summary: of an even count, the lower of the middle two. */
    @Test
    void anEvenCountTakesTheLowerMiddleRatioAsTheSummariesDo() {
        Samples framework = new Samples();
        Samples raw = new Samples();
        long[][] pairs = {{100, 100}, {120, 100}, {130, 100}, {200, 100}};
        for (long[] p : pairs) {
            framework.add(p[0]);
            raw.add(p[1]);
        }
        assertEquals(1.2, Samples.pairedMedianRatio(framework, raw), 1e-9);
        assertEquals(120e-6, framework.summary().medianMs(), 1e-12, "the summary's median of 100, 120, 130, 200 ns");
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
