package io.hvspi.cli.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadPolicy;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.NodeList;

/** The pure parts of {@code bench io}: /proc parsing, modes, and the chart. */
class IoBenchPartsTest {

    @Test
    void cpuTicksAreCountedFromTheLastParenthesisSoThreadNamesMayHoldSpacesAndParentheses() {
        String stat = "4242 (CPU 0/TCG) x) R 1 4242 4242 0 -1 4194560 12 0 0 0 250 31 0 0 20 0 9 0 100 0 0";
        assertEquals(281, ThreadCpu.parse(stat));
        assertThrows(IllegalArgumentException.class, () -> ThreadCpu.parse("garbage"));
        long self = ProcessHandle.current().pid();
        assertTrue(ThreadCpu.ticks(self, self).isPresent(), "this JVM's main thread has a stat file");
        assertTrue(ThreadCpu.ticks(self, Long.MAX_VALUE).isEmpty(), "a thread that is gone has no CPU time");
    }

    @Test
    void modesMapToTheirPlacement() {
        assertEquals(IOThreadChoice.mainLoop(), IoMode.MAIN.choice());
        assertEquals(IOThreadPolicy.ROUND_ROBIN, IoMode.MAIN.policy(IOThreadPolicy.ROUND_ROBIN));
        assertEquals(IOThreadChoice.byPolicy(), IoMode.FIRST.choice());
        assertEquals(IOThreadPolicy.FIRST, IoMode.FIRST.policy(IOThreadPolicy.LEAST_LOADED));
        assertEquals(IoMode.LEAST_LOADED, IoMode.fromKey(" Least-Loaded"));
        assertThrows(IllegalArgumentException.class, () -> IoMode.fromKey("round-robin"));
    }

    @Test
    void axisStepsAreRoundNumbers() {
        assertEquals(2000, IoChart.niceStep(1234));
        assertEquals(500, IoChart.niceStep(500));
        assertEquals(2500, IoChart.niceStep(2100));
        assertEquals(0.5, IoChart.niceStep(0.3), 1e-9);
    }

    @Test
    void theChartHasOneLabelledBarPerCaseAndTheTcgCaveat() throws Exception {
        Document svg = parse(IoChart.render(report("tcg")));
        NodeList titles = svg.getElementsByTagName("title");
        assertEquals(3, titles.getLength());
        assertEquals("main, 1 disk: 4,000 IOPS", titles.item(0).getTextContent());
        assertEquals("least-loaded, 2 disks: 3,500 IOPS", titles.item(2).getTextContent());
        String text = svg.getDocumentElement().getTextContent();
        assertTrue(text.contains("QEMU 7.2.22, accel tcg, 2 host cores; guest 1 vCPU, 512 MiB"), text);
        assertTrue(text.contains("Under TCG the guest's emulation"), text);
        assertTrue(text.contains("2 disks"), text);

        assertFalse(parse(IoChart.render(report("kvm"))).getDocumentElement().getTextContent()
                .contains("Under TCG"));
    }

    private static IoBenchReport report(String accel) {
        IoBenchReport.Machine machine = new IoBenchReport.Machine("CPU <&>", 2,
                "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)", accel, "25", "6.1.0-56-amd64", 1,
                512);
        IoBenchReport.Settings settings = new IoBenchReport.Settings(List.of(1, 2), List.of("main", "least-loaded"),
                5, 2, "null-co", "rw=randread");
        IoBenchReport.Cpu cpu = new IoBenchReport.Cpu(1, 0.5, 0.2, 0);
        return new IoBenchReport(machine, settings, List.of(
                new IoBenchReport.Case("main", 1, 4000, 16000, 8000, 5000, 7, 6, 1.5, Map.of("disk0", List.of()), cpu,
                        List.of()),
                new IoBenchReport.Case("least-loaded", 1, 4200, 16800, 7600, 5000, 7, 6, 1.5,
                        Map.of("disk0", List.of("indep_iothread_0")), cpu, List.of()),
                // a case that failed to run is simply missing: main with 2 disks
                new IoBenchReport.Case("least-loaded", 2, 3500, 14000, 18000, 5000, 7, 6, 1.5,
                        Map.of("disk0", List.of("indep_iothread_0"), "disk1", List.of("indep_iothread_1")), cpu,
                        List.of())));
    }

    private static Document parse(String svg) throws Exception {
        return DocumentBuilderFactory.newInstance().newDocumentBuilder()
                .parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
    }
}
