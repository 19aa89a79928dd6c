package io.hvspi.tck.compat;

import io.hvspi.spi.Capability;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code compat.html}: the matrix as one self-contained page (inline CSS, no
 * script, no external asset), readable offline and attachable to a CI run.
 */
public final class HtmlReportWriter {
    private HtmlReportWriter() {}

    private static final String CSS = """
            :root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;
              --pass:#1a7f37;--pass-bg:#dafbe1;--fail:#cf222e;--fail-bg:#ffebe9;--uns:#57606a;--uns-bg:#eaeef2;
              --abs:#7d4e00;--abs-bg:#fff8c5;--skip:#6639ba;--skip-bg:#fbefff}
            *{box-sizing:border-box}
            body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--fg);background:#fff}
            header{padding:20px 32px;border-bottom:1px solid var(--line);background:var(--bg);display:flex;gap:24px;align-items:center;flex-wrap:wrap}
            header h1{margin:0;font-size:22px}
            header .meta{color:var(--muted);margin:2px 0 0}
            .result{margin-left:auto;font-weight:700;font-size:16px;padding:6px 14px;border-radius:6px}
            .result.pass{color:var(--pass);background:var(--pass-bg)} .result.fail{color:var(--fail);background:var(--fail-bg)}
            main{padding:8px 32px 40px;max-width:1600px}
            h2{font-size:18px;margin:28px 0 10px}
            .cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:14px}
            .card{border:1px solid var(--line);border-radius:8px;padding:12px 14px;background:#fff;overflow-wrap:anywhere}
            .card h3{margin:0 0 2px;font-size:16px;display:flex;gap:8px;align-items:baseline}
            .card h3 small{color:var(--muted);font-weight:400}
            .card p{margin:4px 0;color:var(--muted)}
            .card .status{font-weight:600}
            .card.unavailable{border-style:dashed;background:var(--bg)}
            .card.bad{border-color:var(--fail)}
            .bar{display:flex;height:8px;border-radius:4px;overflow:hidden;background:var(--uns-bg);margin:8px 0 6px}
            .bar span{display:block;height:100%}
            .bar .passed{background:var(--pass)} .bar .failed{background:var(--fail)} .bar .unsupported{background:#8c959f} .bar .skipped{background:#a475f9}
            .counts{display:flex;gap:12px;flex-wrap:wrap;color:var(--muted);font-size:13px}
            .counts b{color:var(--fg)}
            table{border-collapse:separate;border-spacing:0;width:100%;font-size:13px}
            th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
            thead th{position:sticky;top:0;background:#fff;border-bottom:2px solid var(--line);z-index:1}
            td.name{min-width:300px} td.name code{color:var(--muted);font-size:11px;display:block}
            tr.group th{background:var(--bg);font-size:13px;padding-top:10px}
            tr.group th small{color:var(--muted);font-weight:400;margin-left:6px}
            .pill{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
            .passed{color:var(--pass);background:var(--pass-bg)} .failed{color:var(--fail);background:var(--fail-bg)}
            .unsupported{color:var(--uns);background:var(--uns-bg)} .absent{color:var(--abs);background:var(--abs-bg)}
            .skipped{color:var(--skip);background:var(--skip-bg)} .idle{color:var(--muted);background:#fff;border:1px dashed var(--line)}
            .none{color:var(--muted);background:#fff;font-weight:400}
            .ms{color:var(--muted);font-size:11px;margin-left:4px}
            .cell{white-space:nowrap}
            .scroll{overflow-x:auto}
            details{margin-top:3px;max-width:420px} details[open]{min-width:260px} summary{cursor:pointer;color:var(--fail);font-size:12px}
            details p{margin:4px 0 0;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;white-space:pre-wrap;word-break:break-word;color:var(--fg)}
            .kata{font-size:10px;color:var(--muted);border:1px solid var(--line);border-radius:4px;padding:0 4px;margin-left:4px}
            .note{color:var(--muted);max-width:900px}
            ul.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:10px 18px}
            ul.problems li{color:var(--fail)}
            ol.slow{margin:4px 0;padding-left:20px;color:var(--muted)} ol.slow b{color:var(--fg);font-weight:500}
            """;

    public static String write(CompatReport report) {
        List<PluginRun> runs = report.plugins();
        StringBuilder h = new StringBuilder(32_768);
        h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
                .append("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">")
                .append("<title>hvspi compatibility report</title><style>").append(CSS).append("</style></head><body>\n");
        boolean pass = report.exitCode() == 0;
        h.append("<header><div><h1>hvspi compatibility report</h1><p class=\"meta\">Generated ")
                .append(esc(report.generatedAt().toString())).append(" · SPI ").append(esc(report.spiVersion()))
                .append(" · ").append(esc(report.host())).append("</p></div>")
                .append("<div class=\"result ").append(pass ? "pass\">PASS" : "fail\">FAIL")
                .append(" <small>(exit ").append(report.exitCode()).append(")</small></div></header>\n<main>\n");

        h.append("<h2>Plugins</h2>\n<section class=\"cards\">\n");
        for (PluginRun run : runs) {
            card(h, run);
        }
        h.append("</section>\n");
        if (!report.conflicts().isEmpty()) {
            h.append("<h2>Conflicts (not tested)</h2>\n<ul class=\"problems\">\n");
            report.conflicts().forEach(c -> h.append("<li>").append(esc(c.message())).append("</li>\n"));
            h.append("</ul>\n");
        }
        if (!report.notLoaded().isEmpty()) {
            h.append("<h2>Not loaded</h2>\n<table><thead><tr><th>file</th><th>reason</th></tr></thead><tbody>\n");
            report.notLoaded().forEach(n -> h.append("<tr><td><code>").append(esc(n.file())).append("</code></td><td>")
                    .append(esc(n.reason())).append("</td></tr>\n"));
            h.append("</tbody></table>\n");
        }

        h.append("<h2>Capabilities</h2>\n<div class=\"scroll\"><table><thead><tr><th>capability</th>");
        runs.forEach(r -> h.append("<th>").append(esc(r.type())).append("</th>"));
        h.append("</tr></thead><tbody>\n");
        for (Capability c : Capability.values()) {
            h.append("<tr><td class=\"name\">").append(esc(c.label()))
                    .append(c.isKataCapability() ? "<span class=\"kata\">Kata</span>" : "")
                    .append("<code>").append(c.key()).append("</code></td>");
            for (PluginRun run : runs) {
                h.append("<td>").append(verdict(run.verdict(c, report.testsFor(c)))).append("</td>");
            }
            h.append("</tr>\n");
        }
        h.append("</tbody></table></div>\n");
        List<Capability> idle = report.notExercised();
        if (!idle.isEmpty()) {
            h.append("<p class=\"note\">Not exercised by the kit: ")
                    .append(String.join(", ", idle.stream().map(c -> "<code>" + c.key() + "</code>").toList()))
                    .append(". The SPI has no operation for them yet, so a plugin's declaration is shown, not tested.</p>\n");
        }

        h.append("<h2>Contract tests</h2>\n<div class=\"scroll\"><table><thead><tr><th>test</th>");
        runs.forEach(r -> h.append("<th>").append(esc(r.type())).append("</th>"));
        h.append("</tr></thead><tbody>\n");
        for (CompatReport.Group g : report.groups()) {
            if (g.tests().isEmpty()) {
                continue;
            }
            h.append("<tr class=\"group\"><th>").append(esc(g.title()));
            g.capability().ifPresent(c -> h.append("<small>").append(c.key()).append("</small>"));
            h.append("</th>");
            for (PluginRun run : runs) {
                h.append("<th>");
                g.capability().ifPresent(c -> h.append(verdict(run.verdict(c, g.tests()))));
                h.append("</th>");
            }
            h.append("</tr>\n");
            for (TestCase t : g.tests()) {
                h.append("<tr><td class=\"name\">").append(esc(t.name())).append("<code>").append(esc(t.id()))
                        .append("</code></td>");
                for (PluginRun run : runs) {
                    h.append("<td>").append(run.result(t).map(HtmlReportWriter::result)
                            .orElse(run.status() == PluginRun.Status.UNAVAILABLE
                                    ? "<span class=\"pill none\">unavailable</span>"
                                    : "<span class=\"pill none\">not run</span>")).append("</td>");
                }
                h.append("</tr>\n");
            }
        }
        h.append("</tbody></table></div>\n");

        h.append("<h2>Legend</h2>\n<ul class=\"legend\">")
                .append("<li><span class=\"pill passed\">passed</span> the contract holds</li>")
                .append("<li><span class=\"pill failed\">failed</span> broken, or a wrong declaration</li>")
                .append("<li><span class=\"pill unsupported\">unsupported</span> not declared; fails with the unsupported error, as it must</li>")
                .append("<li><span class=\"pill absent\">declared, absent here</span> declared, but this VMM binary lacks it</li>")
                .append("<li><span class=\"pill idle\">not exercised</span> no SPI operation to test yet</li>")
                .append("<li><span class=\"pill skipped\">skipped</span> not run</li></ul>\n");
        h.append("</main></body></html>\n");
        return h.toString();
    }

    private static void card(StringBuilder h, PluginRun run) {
        Map<TestResult.Outcome, Integer> counts = run.counts();
        int total = counts.values().stream().mapToInt(Integer::intValue).sum();
        String cls = run.status() == PluginRun.Status.UNAVAILABLE ? " unavailable" : run.failed() ? " bad" : "";
        h.append("<article class=\"card").append(cls).append("\"><h3>").append(esc(run.type()))
                .append(" <small>").append(esc(run.pluginId())).append(' ').append(esc(run.version()))
                .append("</small></h3>");
        h.append("<p>").append(esc(run.description())).append("</p>");
        h.append("<p><span class=\"status\">").append(run.status().key()).append("</span>")
                .append(run.reason().map(r -> ": " + esc(r)).orElse("")).append("</p>");
        h.append("<p>on ").append(esc(run.backend())).append("</p>");
        if (total > 0) {
            h.append("<div class=\"bar\">");
            for (TestResult.Outcome o : TestResult.Outcome.values()) {
                int n = counts.get(o);
                if (n > 0) {
                    h.append("<span class=\"").append(o.key()).append("\" style=\"width:")
                            .append(String.format(Locale.ROOT, "%.2f", 100.0 * n / total)).append("%\"></span>");
                }
            }
            h.append("</div>");
        }
        h.append("<div class=\"counts\">");
        for (TestResult.Outcome o : TestResult.Outcome.values()) {
            h.append("<span><b>").append(counts.get(o)).append("</b> ").append(o.key()).append("</span>");
        }
        h.append("<span><b>").append(String.format(Locale.ROOT, "%.1f s", run.duration().toMillis() / 1000.0))
                .append("</b> total</span></div>");
        List<Map.Entry<String, TestResult>> slow = run.results().entrySet().stream()
                .sorted(Comparator.comparing((Map.Entry<String, TestResult> e) -> e.getValue().duration()).reversed())
                .limit(3).filter(e -> e.getValue().duration().toMillis() > 0).toList();
        if (!slow.isEmpty()) {
            h.append("<p>slowest:</p><ol class=\"slow\">");
            slow.forEach(e -> h.append("<li><b>").append(esc(e.getKey())).append("</b> ")
                    .append(e.getValue().duration().toMillis()).append(" ms</li>"));
            h.append("</ol>");
        }
        h.append("</article>\n");
    }

    private static String verdict(CapabilityVerdict v) {
        String cls = switch (v) {
            case PASSED -> "passed";
            case FAILED -> "failed";
            case UNSUPPORTED -> "unsupported";
            case ABSENT_HERE -> "absent";
            case DECLARED_NOT_EXERCISED, NOT_DECLARED -> "idle";
            case SKIPPED -> "skipped";
            case UNAVAILABLE -> "none";
        };
        return "<span class=\"pill " + cls + "\">" + esc(v.label()) + "</span>";
    }

    private static String result(TestResult r) {
        String ms = "<span class=\"ms\">" + r.duration().toMillis() + " ms</span></span>";
        return "<span class=\"cell\">" + switch (r.outcome()) {
            case PASSED -> "<span class=\"pill passed\">passed</span>" + ms;
            case FAILED -> "<span class=\"pill failed\">failed</span>" + ms
                    + "<details><summary>why</summary><p>" + esc(r.message().orElse("(no message)")) + "</p></details>";
            case UNSUPPORTED -> "<span class=\"pill unsupported\" title=\"fails with the unsupported error naming "
                    + esc(r.message().orElse("")) + "\">unsupported</span>" + ms;
            case SKIPPED -> "<span class=\"pill skipped\" title=\"" + esc(r.message().orElse("")) + "\">skipped</span></span>";
        };
    }

    /** HTML-escapes text for element content and attribute values. */
    static String esc(String s) {
        StringBuilder out = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '&' -> out.append("&amp;");
                case '"' -> out.append("&quot;");
                case '\'' -> out.append("&#39;");
                default -> out.append(c);
            }
        }
        return out.toString();
    }
}
