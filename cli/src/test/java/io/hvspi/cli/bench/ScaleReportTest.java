package io.hvspi.cli.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The raw side of {@code bench scale}: per-attach CPU, medians over rounds, the ratio, and where they go. */
class ScaleReportTest {
    private static final ScaleReport.Latency LATENCY = new ScaleReport.Latency(512, 40, 90, 150, 200, 50);

    private static ScaleReport.Phase attaches(int operations, double perSecond) {
        return new ScaleReport.Phase(operations, operations / perSecond * 1000, perSecond, LATENCY);
    }

    private static ScaleReport.CpuUse cpu(double jvmSeconds, double vmmSeconds) {
        return new ScaleReport.CpuUse(1.4, jvmSeconds, vmmSeconds, 0.1, 0.0);
    }

    @Test
    void aRoundsCpuPerAttachIsItsPhasesCoreSecondsOverItsAttachesInMilliseconds() {
        ScaleReport.RawRound r = ScaleReport.RawRound.of("before", attaches(512, 580), cpu(0.1, 1.52));
        assertEquals(0.195, r.jvmCpuPerAttachMs());
        assertEquals(2.969, r.vmmCpuPerAttachMs());
        assertEquals("before", r.when());
    }

    @Test
    void theRawSideIsTheMedianOfItsRoundsAndTheRatioIsHvspisRateOverIt() {
        ScaleReport.Raw raw = ScaleReport.Raw.of("how", List.of(
                ScaleReport.RawRound.of("before", attaches(512, 560), cpu(0.1, 1.5)),
                ScaleReport.RawRound.of("after", attaches(512, 600), cpu(0.2, 1.6))));
        assertEquals(580, raw.perSecond()); // two rounds: the mean of both
        assertEquals(0.293, raw.jvmCpuPerAttachMs()); // (0.195 + 0.391) / 2
        assertEquals(3.028, raw.vmmCpuPerAttachMs()); // (2.93 + 3.125) / 2, rounded

        ScaleReport.VsRaw vs = ScaleReport.VsRaw.of(attaches(512, 522), cpu(0.256, 1.7), raw);
        assertEquals(0.9, vs.throughputRatio());
        assertEquals(0.5, vs.hvspiJvmCpuPerAttachMs());
        assertEquals(0.293, vs.rawJvmCpuPerAttachMs());
        assertEquals(0.207, vs.hvspiJvmCostPerAttachMs());
        assertEquals(3.32, vs.hvspiVmmCpuPerAttachMs());
        assertEquals(3.028, vs.rawVmmCpuPerAttachMs());
    }

    @Test
    void anOddNumberOfRoundsTakesTheMiddleOneNotTheMean() {
        assertEquals(500, ScaleReport.median(new double[] {900, 100, 500}));
        assertEquals(2.5, ScaleReport.median(new double[] {3, 2}));
        assertThrows(IllegalArgumentException.class, () -> ScaleReport.Raw.of("how", List.of()));
    }

    @Test
    void cpuByThreadIsTheDifferenceOfTwoReadingsPerOperationLargestFirstWithoutIdleThreads() {
        Map<String, Double> ms = ThreadCpu.perOperationMs(
                Map.of("json-line-reade", 100_000_000L, "C2 CompilerThre", 50_000_000L, "idle", 7L, "gone", 9L),
                Map.of("json-line-reade", 151_000_000L, "C2 CompilerThre", 60_000_000L, "idle", 500_007L,
                        "bench-hotplug-N", 800_000_000L), 512);
        assertEquals(List.of("bench-hotplug-N", "json-line-reade", "C2 CompilerThre"), List.copyOf(ms.keySet()));
        assertEquals(1.563, ms.get("bench-hotplug-N")); // 800 ms over 512 attaches
        assertEquals(0.1, ms.get("json-line-reade"));
        assertEquals(0.02, ms.get("C2 CompilerThre"));
        Map<String, Long> self = ThreadCpu.jvmByName();
        assertTrue(self.getOrDefault("main", 0L) + self.getOrDefault("java", 0L) > 0, self.toString());
    }

    @Test
    void theJsonAndMarkdownCarryTheRawSideAndTheComparison() throws Exception {
        ScaleReport.Raw raw = ScaleReport.Raw.of("the raw side's method", List.of(
                ScaleReport.RawRound.of("before", attaches(512, 560), cpu(0.1, 1.5)),
                ScaleReport.RawRound.of("after", attaches(512, 600), cpu(0.2, 1.6))));
        ScaleReport.Phase hotplug = attaches(512, 522);
        ScaleReport.CpuUse hotplugCpu = cpu(0.256, 1.7);
        ScaleReport.ProcessMemory memory = new ScaleReport.ProcessMemory(43, 43.2, 1375, 22, 703, 8);
        ScaleReport report = new ScaleReport(
                new ScaleReport.Machine("cpu", 2, 24000, "7.2.22", "25", "G1", 0.5, 2.5),
                new ScaleReport.Settings("qemu", 32, 16, "tcg", 1, 128, 4, "least-loaded", 16, 4, "how", "/run"),
                attaches(32, 30), hotplug, attaches(32, 190), cpu(0.4, 1.4), hotplugCpu,
                new ScaleReport.Jvm(1, 2, 3, 4, 5, 6, 7, 1.97, Map.of(), 8, 9, 4.0, "method"),
                new ScaleReport.Vmm(memory, memory, 270), raw, ScaleReport.VsRaw.of(hotplug, hotplugCpu, raw),
                Map.of("hvspi", ThreadCpu.perOperationMs(Map.of(), Map.of("bench-hotplug-N", 200_000_000L), 512)));

        JsonNode doc = new ObjectMapper().readTree(report.toJson());
        assertEquals(0.9, doc.at("/vsRaw/throughputRatio").asDouble());
        assertEquals(0.5, doc.at("/vsRaw/hvspiJvmCpuPerAttachMs").asDouble());
        assertEquals(0.293, doc.at("/vsRaw/rawJvmCpuPerAttachMs").asDouble());
        assertEquals(0.207, doc.at("/vsRaw/hvspiJvmCostPerAttachMs").asDouble());
        assertEquals(3.32, doc.at("/vsRaw/hvspiVmmCpuPerAttachMs").asDouble());
        assertEquals(580, doc.at("/raw/perSecond").asDouble());
        assertEquals("the raw side's method", doc.at("/raw/method").asText());
        assertEquals(List.of("before", "after"), List.of(doc.at("/raw/rounds/0/when").asText(),
                doc.at("/raw/rounds/1/when").asText()));
        assertEquals(600, doc.at("/raw/rounds/1/hotplug/perSecond").asDouble());
        assertEquals(0.2, doc.at("/raw/rounds/1/hotplugCpu/jvmSeconds").asDouble());
        // the fields that were there before the raw side stay where they were
        assertEquals(522, doc.at("/hotplug/perSecond").asDouble());
        assertEquals(1.7, doc.at("/hotplugCpu/vmmSeconds").asDouble());

        assertEquals(0.391, doc.at("/jvmCpuPerAttachByThreadMs/hvspi/bench-hotplug-N").asDouble());

        String md = report.toMarkdown();
        assertTrue(md.contains("| raw attach (before) | 512 |"), md);
        assertTrue(md.contains("| raw attach (after) | 512 | 0.85 s | 600.0/s |"), md);
        assertTrue(md.contains("| throughput | 522.0/s | 580.0/s | **0.90x** |"), md);
        assertTrue(md.contains("| JVM CPU per attach | 0.500 ms | 0.293 ms | 0.207 ms more |"), md);
        assertTrue(md.contains("Raw side: the raw side's method"), md);
    }
}
