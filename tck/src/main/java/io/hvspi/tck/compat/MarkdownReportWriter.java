package io.hvspi.tck.compat;

import io.hvspi.spi.Capability;
import java.util.List;
import java.util.Locale;

/** {@code compat.md}: the matrix as GitHub-flavoured Markdown tables. */
public final class MarkdownReportWriter {
    private MarkdownReportWriter() {}

    public static String write(CompatReport report) {
        StringBuilder md = new StringBuilder();
        List<PluginRun> runs = report.plugins();
        md.append("# hvspi compatibility report\n\n");
        md.append("Generated ").append(report.generatedAt()).append(" against SPI ").append(report.spiVersion())
                .append(" on ").append(cell(report.host())).append(". Result: **")
                .append(report.exitCode() == 0 ? "pass" : "FAIL").append("** (exit ").append(report.exitCode())
                .append(").\n\n");

        md.append("## Plugins\n\n");
        md.append("| plugin | type | version | status | backend | passed | failed | unsupported | skipped | time |\n");
        md.append("|---|---|---|---|---|---:|---:|---:|---:|---:|\n");
        for (PluginRun run : runs) {
            var counts = run.counts();
            md.append("| ").append(cell(run.pluginId())).append(" | ").append(cell(run.type())).append(" | ")
                    .append(cell(run.version())).append(" | ")
                    .append(run.status().key()).append(run.reason().map(r -> ": " + cell(r)).orElse(""))
                    .append(" | ").append(cell(run.backend())).append(" | ")
                    .append(counts.get(TestResult.Outcome.PASSED)).append(" | ")
                    .append(counts.get(TestResult.Outcome.FAILED)).append(" | ")
                    .append(counts.get(TestResult.Outcome.UNSUPPORTED)).append(" | ")
                    .append(counts.get(TestResult.Outcome.SKIPPED)).append(" | ")
                    .append(seconds(run.duration().toMillis())).append(" |\n");
        }

        if (!report.conflicts().isEmpty()) {
            md.append("\n## Conflicts (not tested)\n\n");
            report.conflicts().forEach(c -> md.append("- ").append(cell(c.message())).append('\n'));
        }
        if (!report.notLoaded().isEmpty()) {
            md.append("\n## Not loaded\n\n| file | reason |\n|---|---|\n");
            report.notLoaded().forEach(n -> md.append("| ").append(cell(n.file())).append(" | ")
                    .append(cell(n.reason())).append(" |\n"));
        }

        md.append("\n## Capabilities\n\n");
        header(md, "capability", runs);
        for (Capability c : Capability.values()) {
            md.append("| ").append(c.label()).append(" (`").append(c.key()).append("`) |");
            for (PluginRun run : runs) {
                md.append(' ').append(verdict(run.verdict(c, report.testsFor(c)))).append(" |");
            }
            md.append('\n');
        }
        List<Capability> idle = report.notExercised();
        if (!idle.isEmpty()) {
            md.append("\nNot exercised by the kit (the SPI has no operation for them yet; a declaration is reported, "
                    + "not tested): ");
            md.append(String.join(", ", idle.stream().map(c -> "`" + c.key() + "`").toList())).append(".\n");
        }

        md.append("\n## Contract tests\n\n");
        header(md, "test", runs);
        for (CompatReport.Group g : report.groups()) {
            if (g.tests().isEmpty()) {
                continue;
            }
            md.append("| **").append(cell(g.title())).append("** |");
            runs.forEach(r -> md.append(" |"));
            md.append('\n');
            for (TestCase t : g.tests()) {
                md.append("| ").append(cell(t.name())).append(" |");
                for (PluginRun run : runs) {
                    md.append(' ').append(run.result(t).map(MarkdownReportWriter::result)
                            .orElse(run.status() == PluginRun.Status.UNAVAILABLE ? "unavailable" : "—")).append(" |");
                }
                md.append('\n');
            }
        }

        StringBuilder failures = new StringBuilder();
        for (PluginRun run : runs) {
            for (TestCase t : report.tests()) {
                run.result(t).filter(r -> r.outcome() == TestResult.Outcome.FAILED).ifPresent(r -> failures
                        .append("- **").append(cell(run.type())).append("** `").append(t.id()).append("`: ")
                        .append(cell(r.message().orElse("(no message)"))).append('\n'));
            }
            if (run.status() == PluginRun.Status.ERROR) {
                failures.append("- **").append(cell(run.type())).append("**: ")
                        .append(cell(run.reason().orElse("error"))).append('\n');
            }
        }
        if (!failures.isEmpty()) {
            md.append("\n## Failures\n\n").append(failures);
        }
        return md.toString();
    }

    private static void header(StringBuilder md, String first, List<PluginRun> runs) {
        md.append("| ").append(first).append(" |");
        runs.forEach(r -> md.append(' ').append(cell(r.type())).append(" |"));
        md.append("\n|---|");
        runs.forEach(r -> md.append("---|"));
        md.append('\n');
    }

    private static String verdict(CapabilityVerdict v) {
        return switch (v) {
            case PASSED -> "✅ passed";
            case FAILED -> "❌ **failed**";
            case UNSUPPORTED -> "➖ unsupported";
            case ABSENT_HERE -> "◻️ declared, absent here";
            case DECLARED_NOT_EXERCISED -> "☑️ declared, not exercised";
            case NOT_DECLARED -> "· not declared";
            case SKIPPED -> "⏭ skipped";
            case UNAVAILABLE -> "unavailable";
        };
    }

    private static String result(TestResult r) {
        return switch (r.outcome()) {
            case PASSED -> "✅ " + r.duration().toMillis() + " ms";
            case FAILED -> "❌ " + cell(r.message().orElse("failed"));
            case UNSUPPORTED -> "➖ unsupported" + r.message().map(m -> " (`" + m + "`)").orElse("");
            case SKIPPED -> "⏭ " + cell(r.message().orElse("skipped"));
        };
    }

    private static String seconds(long millis) {
        return String.format(Locale.ROOT, "%.1f s", millis / 1000.0);
    }

    /** Text safe inside a table cell: no pipes, no line breaks. */
    static String cell(String text) {
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ");
    }
}
