package io.hvspi.core.config;

import java.nio.file.Path;

/**
 * Refuses TOML whose arrays and inline tables nest deeper than
 * {@link #MAX_DEPTH}, before tomlj sees it: tomlj's parser recurses once per
 * level and throws {@link StackOverflowError} near a thousand levels, which no
 * caller expects from a configuration loader. Kata's files nest two deep.
 *
 * <p>The scan skips comments and closed strings of the four kinds, so brackets
 * inside them do not count; every other bracket and brace counts, table headers
 * included. Counting too much is harmless here (a header closes on its own
 * line); counting too little is not, so where the scan is unsure it counts: after
 * a string that is never closed, quotes stop opening strings (to the end of the
 * line for a one-line string, to the end of the text for a multi-line one),
 * since tomlj's lexer may read that text as tokens. The scan is linear.
 */
final class TomlDepth {
    /** Far above any real configuration, far below what overflows a 256 KiB thread stack. */
    static final int MAX_DEPTH = 64;

    private TomlDepth() {}

    static void check(String toml, Path file) {
        int n = toml.length();
        int depth = 0;
        int line = 1;
        int lineStart = 0;
        int quotesOffUntil = -1;
        int i = 0;
        while (i < n) {
            char c = toml.charAt(i);
            if (c == '\n') {
                line++;
                lineStart = i + 1;
                i++;
            } else if (c == '#') {
                while (i < n && toml.charAt(i) != '\n') {
                    i++;
                }
            } else if ((c == '"' || c == '\'') && i >= quotesOffUntil) {
                boolean multi = toml.startsWith(String.valueOf(c).repeat(3), i);
                int end = multi ? multiLineEnd(toml, i + 3, c) : lineEnd(toml, i + 1, c);
                if (end < 0) {
                    int eol = toml.indexOf('\n', i);
                    quotesOffUntil = multi || eol < 0 ? n : eol;
                    i++;
                    continue;
                }
                for (int k = i; k < end; k++) {
                    if (toml.charAt(k) == '\n') {
                        line++;
                        lineStart = k + 1;
                    }
                }
                i = end;
            } else {
                if (c == '[' || c == '{') {
                    if (++depth > MAX_DEPTH) {
                        throw Locator.configError(file, line, i - lineStart + 1, null, "arrays and inline tables"
                                + " nest more than " + MAX_DEPTH + " deep here; hvspi refuses that before parsing");
                    }
                } else if ((c == ']' || c == '}') && depth > 0) {
                    depth--;
                }
                i++;
            }
        }
    }

    /** The index after a one-line string whose text starts at {@code from}; -1 when the line ends first. */
    private static int lineEnd(String s, int from, char quote) {
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\n') {
                return -1;
            }
            if (c == '\\' && quote == '"') {
                i++;
            } else if (c == quote) {
                return i + 1;
            }
        }
        return -1;
    }

    /** The index after a multi-line string's closing triple quote (and up to two more quotes, as TOML allows); -1 when none. */
    private static int multiLineEnd(String s, int from, char quote) {
        String close = String.valueOf(quote).repeat(3);
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && quote == '"') {
                i++;
            } else if (s.startsWith(close, i)) {
                int end = i + 3;
                while (end < s.length() && end < i + 5 && s.charAt(end) == quote) {
                    end++;
                }
                return end;
            }
        }
        return -1;
    }
}
