package io.hvspi.tck.compat;

import io.hvspi.spi.Capability;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * The compatibility matrix: contract tests (rows) by plugin (columns).
 *
 * @param generatedAt when the run ended
 * @param spiVersion the SPI the kit ran against
 * @param host the machine, for people (kernel, architecture, Java)
 * @param tests every contract test in the kit, in the kit's order
 * @param plugins one run per plugin, in the order given
 * @param notLoaded the plugin jars that did not load, with the reason: not tested, but reported
 * @param conflicts the hypervisor types claimed by more than one plugin: none of the claimants is tested
 */
public record CompatReport(Instant generatedAt, String spiVersion, String host, List<TestCase> tests,
                           List<PluginRun> plugins, List<NotLoaded> notLoaded, List<Conflict> conflicts) {

    /** The report files {@link #writeAll} writes. */
    public static final List<String> FILE_NAMES = List.of("compat.json", "compat.md", "compat.html");

    public CompatReport {
        tests = List.copyOf(tests);
        plugins = List.copyOf(plugins);
        notLoaded = List.copyOf(notLoaded);
        conflicts = List.copyOf(conflicts);
    }

    /** A report of the plugins that loaded, with nothing else found. */
    public CompatReport(Instant generatedAt, String spiVersion, String host, List<TestCase> tests,
                        List<PluginRun> plugins) {
        this(generatedAt, spiVersion, host, tests, plugins, List.of(), List.of());
    }

    /** A plugin file that did not load, and why (from the registry). */
    public record NotLoaded(String file, String reason) {}

    /**
     * A hypervisor type claimed by several plugins.
     *
     * @param claimants each claimant as {@code 'id' (where it came from)}
     * @param message the registry's one line
     */
    public record Conflict(String type, List<String> claimants, String message) {
        public Conflict {
            claimants = List.copyOf(claimants);
        }
    }

    /**
     * A group of rows: either one capability (its tests, possibly none) or a
     * contract area that is not about one capability (lifecycle, declaration, errors).
     *
     * @param key the capability's key or the contract's
     * @param title for people
     * @param capability the capability, for a capability group
     * @param tests its tests, in the kit's order
     */
    public record Group(String key, String title, Optional<Capability> capability, List<TestCase> tests) {
        public Group {
            tests = List.copyOf(tests);
        }
    }

    /**
     * The rows in report order: the capability declaration and lifecycle first,
     * then every capability in {@link Capability} order (those without tests
     * included, to say so), then the other contract areas.
     */
    public List<Group> groups() {
        List<Group> first = new ArrayList<>();
        List<Group> last = new ArrayList<>();
        for (TestCase t : tests) {
            if (t.capability().isEmpty()) {
                List<Group> target = t.contract().equals("declaration") || t.contract().equals("lifecycle") ? first : last;
                addTo(target, t);
            }
        }
        List<Group> groups = new ArrayList<>(first);
        for (Capability c : Capability.values()) {
            groups.add(new Group(c.key(), c.label(), Optional.of(c), testsFor(c)));
        }
        groups.addAll(last);
        return groups;
    }

    private static void addTo(List<Group> groups, TestCase t) {
        for (int i = 0; i < groups.size(); i++) {
            Group g = groups.get(i);
            if (g.key().equals(t.contract())) {
                List<TestCase> more = new ArrayList<>(g.tests());
                more.add(t);
                groups.set(i, new Group(g.key(), g.title(), Optional.empty(), more));
                return;
            }
        }
        groups.add(new Group(t.contract(), t.contractTitle(), Optional.empty(), List.of(t)));
    }

    /** The tests that exercise {@code c}. */
    public List<TestCase> testsFor(Capability c) {
        return tests.stream().filter(t -> t.capability().filter(c::equals).isPresent()).toList();
    }

    /** The capabilities no contract test exercises. */
    public List<Capability> notExercised() {
        return Arrays.stream(Capability.values()).filter(c -> testsFor(c).isEmpty()).toList();
    }

    /**
     * 0 when every plugin that ran passed its contract; 1 when a test failed, a
     * run broke, or two plugins claim one type. Unavailable plugins and jars that
     * did not load do not fail the run (they are reported).
     */
    public int exitCode() {
        return plugins.stream().anyMatch(PluginRun::failed) || !conflicts.isEmpty() ? 1 : 0;
    }

    /** Writes {@code compat.json}, {@code compat.md} and {@code compat.html} into {@code dir}; returns their paths. */
    public List<Path> writeAll(Path dir) throws IOException {
        Files.createDirectories(dir);
        Path json = dir.resolve(FILE_NAMES.get(0));
        Path md = dir.resolve(FILE_NAMES.get(1));
        Path html = dir.resolve(FILE_NAMES.get(2));
        Files.writeString(json, JsonReportWriter.write(this));
        Files.writeString(md, MarkdownReportWriter.write(this));
        Files.writeString(html, HtmlReportWriter.write(this));
        return List.of(json, md, html);
    }
}
