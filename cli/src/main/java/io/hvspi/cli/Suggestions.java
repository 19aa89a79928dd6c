package io.hvspi.cli;

import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * "Did you mean" candidates for a mistyped command or option, much as kubectl (cobra) finds them:
 * names within a few edits (a swap of neighbours counts as one) or that start with what was typed.
 * Short words allow fewer edits, or every two-letter word would be near every four-letter name.
 */
final class Suggestions {
    private Suggestions() {}

    /** The names close to {@code typed}, closest first (ties in the given order). */
    static List<String> closest(String typed, Collection<String> names) {
        String t = typed.toLowerCase(Locale.ROOT);
        int allowed = maxDistance(t);
        return names.stream()
                .filter(n -> n.length() > 1 || t.length() == 1)
                .filter(n -> distance(t, n.toLowerCase(Locale.ROOT)) <= allowed
                        || (t.replaceFirst("^-+", "").length() >= 2 && n.toLowerCase(Locale.ROOT).startsWith(t)))
                .sorted(Comparator.comparingInt(n -> distance(t, n.toLowerCase(Locale.ROOT))))
                .distinct()
                .toList();
    }

    /** Edits allowed: none up to 2 letters (prefixes still match), one up to 5, two beyond. */
    static int maxDistance(String typed) {
        String bare = typed.replaceFirst("^-+", "");
        return bare.length() <= 2 ? 0 : bare.length() <= 5 ? 1 : 2;
    }

    /** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
    static int distance(String a, String b) {
        int[][] d = new int[a.length() + 1][b.length() + 1];
        for (int i = 0; i <= a.length(); i++) {
            d[i][0] = i;
        }
        for (int j = 0; j <= b.length(); j++) {
            d[0][j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
                    d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
                }
            }
        }
        return d[a.length()][b.length()];
    }
}
