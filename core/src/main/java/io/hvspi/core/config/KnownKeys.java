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
 * The keys Kata reads in a {@code [hypervisor.NAME]} table, by type, plus
 * hvspi's own, from the curated resource {@code kata-hypervisor-keys.txt}.
 */
final class KnownKeys {
    private static final String RESOURCE = "kata-hypervisor-keys.txt";
    private static final Map<String, Set<String>> SECTIONS = load();

    private KnownKeys() {}

    /** The keys known in a {@code [hypervisor.TYPE]} table; every section for a type Kata does not have. */
    static Set<String> forType(String type) {
        Set<String> keys = new TreeSet<>(SECTIONS.get("common"));
        keys.addAll(SECTIONS.get("hvspi"));
        Set<String> own = SECTIONS.get(type);
        if (own != null && !"common".equals(type) && !"hvspi".equals(type)) {
            keys.addAll(own);
        } else {
            SECTIONS.values().forEach(keys::addAll);
        }
        return Collections.unmodifiableSet(keys);
    }

    /** The known key closest to {@code key} within two edits, for a "did you mean" hint. */
    static Optional<String> closest(String type, String key) {
        String best = null;
        int bestDistance = 3;
        for (String candidate : forType(type)) {
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

    private static Map<String, Set<String>> load() {
        Map<String, Set<String>> sections = new LinkedHashMap<>();
        try (InputStream in = KnownKeys.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("resource " + RESOURCE + " is missing from the hvspi-core jar");
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
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
        if (!sections.containsKey("common") || !sections.containsKey("hvspi")) {
            throw new IllegalStateException(RESOURCE + " lacks its [common] or [hvspi] section");
        }
        return sections;
    }
}
