package io.hvspi.core.config;

import java.util.regex.Pattern;

/**
 * hvspi's first {@link Glob}: a translation to {@code java.util.regex}, kept in
 * the tests as the oracle the linear matcher must agree with. Not for
 * production: the regex backtracks, polynomially in the number of {@code *} in
 * one component (five of them against a 255-character name took 22 s).
 */
final class RegexGlob {
    private RegexGlob() {}

    /** Compiles {@code glob}; throws {@link IllegalArgumentException} saying what is malformed. */
    static Pattern compile(String glob, char negation) {
        StringBuilder re = new StringBuilder();
        int i = 0;
        while (i < glob.length()) {
            char c = glob.charAt(i);
            switch (c) {
                case '*' -> re.append("[^/]*");
                case '?' -> re.append("[^/]");
                case '\\' -> {
                    if (i + 1 == glob.length()) {
                        throw new IllegalArgumentException("trailing '\\'");
                    }
                    re.append(Pattern.quote(String.valueOf(glob.charAt(++i))));
                }
                case '[' -> i = bracket(glob, i, negation, re);
                default -> re.append(Pattern.quote(String.valueOf(c)));
            }
            i++;
        }
        return Pattern.compile(re.toString());
    }

    /** Translates the bracket expression starting at {@code start}; returns the index of its closing ']'. */
    private static int bracket(String glob, int start, char negation, StringBuilder re) {
        int i = start + 1;
        boolean negate = i < glob.length() && glob.charAt(i) == negation;
        if (negate) {
            i++;
        }
        StringBuilder cls = new StringBuilder();
        boolean first = true;
        while (i < glob.length() && (glob.charAt(i) != ']' || first)) {
            char c = glob.charAt(i);
            if (c == '\\' && i + 1 < glob.length()) {
                c = glob.charAt(++i);
            }
            cls.append(literal(c));
            if (i + 2 < glob.length() && glob.charAt(i + 1) == '-' && glob.charAt(i + 2) != ']') {
                char hi = glob.charAt(i + 2);
                if (hi < c) {
                    throw new IllegalArgumentException("range '" + c + "-" + hi + "' is reversed");
                }
                cls.append('-').append(literal(hi));
                i += 2;
            }
            first = false;
            i++;
        }
        if (i >= glob.length()) {
            throw new IllegalArgumentException("'[' at offset " + start + " is not closed");
        }
        // (?!/) keeps a bracket expression from matching the separator, as FNM_PATHNAME requires
        re.append("(?!/)[").append(negate ? "^" : "").append(cls).append(']');
        return i;
    }

    private static String literal(char c) {
        return String.format("\\x{%x}", (int) c);
    }
}
