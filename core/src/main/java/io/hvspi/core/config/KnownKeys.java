package io.hvspi.core.config;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * The keys each Kata runtime reads, per table, plus hvspi's own in a
 * {@code [hypervisor.NAME]} table: {@code kata-keys.txt}, generated from Kata's
 * sources by {@code scripts/kata-keys.py} (the Go runtime's {@code toml} tags in
 * {@code src/runtime/pkg/katautils/config.go}; runtime-rs's serde fields under
 * {@code src/libs/kata-types/src/config/}, flattened structs followed), and
 * {@code kata-hypervisor-keys.txt}'s {@code [hvspi]} section.
 *
 * <p>Both runtimes decode every {@code [hypervisor.NAME]} table into one struct
 * (Go's {@code hypervisor}, runtime-rs's {@code Hypervisor}), so the set of keys
 * is per runtime and table, not per hypervisor type.
 */
final class KnownKeys {
    private static final String KATA_RESOURCE = "kata-keys.txt";
    private static final String RESOURCE = "kata-hypervisor-keys.txt";
    private static final Map<String, Set<String>> KATA = load(KATA_RESOURCE);
    private static final Set<String> HVSPI = load(RESOURCE).get("hvspi");

    private KnownKeys() {}

    /** The keys {@code runtime} reads in {@code table} ({@code hypervisor}, {@code agent}, {@code runtime}, ...). */
    static Set<String> kata(KataRuntime runtime, String table) {
        Set<String> keys = KATA.get(runtime.key() + " " + table);
        if (keys == null) {
            throw new IllegalStateException(KATA_RESOURCE + " has no [" + runtime.key() + " " + table + "] section");
        }
        return keys;
    }

    /** hvspi's own keys in a {@code [hypervisor.NAME]} table. */
    static Set<String> hvspi() {
        return HVSPI;
    }

    /**
     * The keys known in a {@code [hypervisor.NAME]} table of a file owned by {@code runtime}:
     * those it reads, those Kata's own templates for it write although it does not read them
     * (so that every file Kata renders passes {@code --strict}; {@link HypervisorRules} warns),
     * and hvspi's.
     */
    static Set<String> forHypervisor(KataRuntime runtime) {
        Set<String> keys = new TreeSet<>(kata(runtime, "hypervisor"));
        keys.addAll(kata(runtime, "template-only"));
        keys.addAll(HVSPI);
        return Collections.unmodifiableSet(keys);
    }

    /** The known key closest to {@code key} within two edits, for a "did you mean" hint. */
    static Optional<String> closest(Set<String> known, String key) {
        String best = null;
        int bestDistance = 3;
        for (String candidate : known) {
            int d = distance(key, candidate);
            if (d < bestDistance) {
                best = candidate;
                bestDistance = d;
            }
        }
        return Optional.ofNullable(best);
    }

    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    private static Map<String, Set<String>> load(String resource) {
        Map<String, Set<String>> sections = new LinkedHashMap<>();
        try (InputStream in = KnownKeys.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("resource " + resource + " is missing from the hvspi-core jar");
            }
            BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            Set<String> current = null;
            for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                line = line.strip();
                if (line.isEmpty() || line.startsWith("#")) {
                    continue;
                }
                if (line.startsWith("[") && line.endsWith("]")) {
                    current = sections.computeIfAbsent(line.substring(1, line.length() - 1), k -> new TreeSet<>());
                } else if (current != null) {
                    Collections.addAll(current, line.split("\\s+"));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + resource, e);
        }
        if (sections.isEmpty()) {
            throw new IllegalStateException(resource + " has no section");
        }
        return sections;
    }
}
