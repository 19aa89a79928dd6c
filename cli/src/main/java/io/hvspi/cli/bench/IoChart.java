package io.hvspi.cli.bench;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The SVG chart of {@code hvctl bench io}: grouped bars, IOPS by mode for each disk
 * count, with the values on the bars and the run's conditions under the title.
 * Plain SVG 1.1 text, so that it renders in browsers and on GitHub, and diffs.
 */
final class IoChart {
    private static final int WIDTH = 760;
    private static final int HEIGHT = 460;
    private static final int LEFT = 84;
    private static final int RIGHT = 150;
    private static final int TOP = 84;
    private static final int BOTTOM = 76;
    private static final Map<String, String> COLORS = Map.of(
            "main", "#8c8c8c", "first", "#4e79a7", "least-loaded", "#f28e2b");
    private static final List<String> SPARE_COLORS = List.of("#59a14f", "#e15759", "#76b7b2", "#b07aa1");

    private IoChart() {}

    static String render(IoBenchReport report) {
        List<Integer> groups = report.settings().disks();
        List<String> modes = report.settings().modes();
        Map<String, Long> iops = new LinkedHashMap<>();
        report.cases().forEach(c -> iops.put(c.mode() + "/" + c.disks(), c.iops()));
        long max = iops.values().stream().mapToLong(Long::longValue).max().orElse(0);
        double step = niceStep(Math.max(max, 1) * 1.12 / 5);
        double top = step * Math.ceil(Math.max(max, 1) * 1.12 / step);

        int plotW = WIDTH - LEFT - RIGHT;
        int plotH = HEIGHT - TOP - BOTTOM;
        int baseY = TOP + plotH;
        StringBuilder svg = new StringBuilder();
        svg.append(String.format(Locale.ROOT, """
                <?xml version="1.0" encoding="UTF-8"?>
                <svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" \
                font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="13">
                <rect width="100%%" height="100%%" fill="#ffffff"/>
                """, WIDTH, HEIGHT, WIDTH, HEIGHT));
        IoBenchReport.Machine m = report.machine();
        text(svg, LEFT, 30, 18, "start", "bold", "Guest IOPS by IOThread mode (hvctl bench io)");
        text(svg, LEFT, 52, 12, "start", "normal", String.format(Locale.ROOT,
                "%s, accel %s, %d host cores; guest %d vCPU, %d MiB", shortQemu(m.qemu()), m.accel(), m.cores(),
                m.vcpus(), m.memoryMib()));
        text(svg, LEFT, 68, 12, "start", "normal", String.format(Locale.ROOT,
                "fio 4k random read, iodepth 32 per disk, all disks at once, %d s per case; null-co disks",
                report.settings().runtimeSeconds()));

        // horizontal grid and y labels
        for (double v = 0; v <= top + step / 2; v += step) {
            double y = baseY - v / top * plotH;
            svg.append(String.format(Locale.ROOT,
                    "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1\"/>%n",
                    LEFT, y, LEFT + plotW, y, v == 0 ? "#333333" : "#e3e3e3"));
            text(svg, LEFT - 8, y + 4, 12, "end", "normal", String.format(Locale.ROOT, "%,d", Math.round(v)));
        }
        svg.append(String.format(Locale.ROOT,
                "<text x=\"18\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 18 %d)\">"
                        + "IOPS, all disks together</text>%n", TOP + plotH / 2, TOP + plotH / 2));

        double groupW = (double) plotW / Math.max(groups.size(), 1);
        double barW = Math.min(56, groupW * 0.78 / Math.max(modes.size(), 1));
        for (int g = 0; g < groups.size(); g++) {
            int disks = groups.get(g);
            double x0 = LEFT + g * groupW + (groupW - barW * modes.size()) / 2;
            for (int i = 0; i < modes.size(); i++) {
                Long value = iops.get(modes.get(i) + "/" + disks);
                if (value == null) {
                    continue;
                }
                double h = value / top * plotH;
                double x = x0 + i * barW;
                svg.append(String.format(Locale.ROOT,
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                                + "<title>%s, %d disk%s: %,d IOPS</title></rect>%n",
                        x + 2, baseY - h, barW - 4, h, color(modes, i), escape(modes.get(i)), disks,
                        disks == 1 ? "" : "s", value));
                text(svg, x + barW / 2, baseY - h - 5, 11, "middle", "normal",
                        String.format(Locale.ROOT, "%,d", value));
            }
            text(svg, LEFT + g * groupW + groupW / 2, baseY + 22, 13, "middle", "bold",
                    disks + (disks == 1 ? " disk" : " disks"));
        }

        // legend
        int lx = LEFT + plotW + 24;
        text(svg, lx, TOP + 4, 12, "start", "bold", "mode");
        for (int i = 0; i < modes.size(); i++) {
            int y = TOP + 18 + i * 24;
            svg.append(String.format(Locale.ROOT,
                    "<rect x=\"%d\" y=\"%d\" width=\"16\" height=\"16\" fill=\"%s\"/>%n", lx, y, color(modes, i)));
            text(svg, lx + 24, y + 13, 13, "start", "normal", modes.get(i));
        }

        if ("tcg".equals(m.accel())) {
            text(svg, LEFT, HEIGHT - 30, 12, "start", "normal",
                    "Under TCG the guest's emulation (the vCPU threads) dominates these numbers;");
            text(svg, LEFT, HEIGHT - 13, 12, "start", "normal",
                    "on a KVM host the same command gives the numbers that matter.");
        }
        svg.append("</svg>\n");
        return svg.toString();
    }

    /** 1, 2, 2.5 or 5 times a power of ten, at least {@code raw}. */
    static double niceStep(double raw) {
        double magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
        for (double f : new double[] {1, 2, 2.5, 5, 10}) {
            if (f * magnitude >= raw) {
                return f * magnitude;
            }
        }
        return 10 * magnitude;
    }

    private static String color(List<String> modes, int i) {
        return COLORS.getOrDefault(modes.get(i), SPARE_COLORS.get(i % SPARE_COLORS.size()));
    }

    /** {@code QEMU emulator version 7.2.22 (Debian ...)} becomes {@code QEMU 7.2.22}. */
    private static String shortQemu(String version) {
        return version.replaceFirst("^QEMU emulator version (\\S+).*$", "QEMU $1");
    }

    private static void text(StringBuilder svg, double x, double y, int size, String anchor, String weight,
                             String content) {
        svg.append(String.format(Locale.ROOT,
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%s\" font-weight=\"%s\">%s</text>%n",
                x, y, size, anchor, weight, escape(content)));
    }

    static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
