package io.hvspi.core.config;

import java.util.ArrayList;
import java.util.List;

/**
 * glob(3) path patterns as Kata's {@code valid_*_paths} lists use them, matched
 * lexically with {@code FNM_PATHNAME} semantics: {@code *} and {@code ?} never
 * match {@code /}, nor does a bracket expression. Java's own "glob:" syntax is
 * not used because its {@code **} and {@code {a,b}} would widen what an
 * administrator's list allows.
 *
 * <p>A bracket expression is negated as the runtime owning the file negates it:
 * the Go runtime matches with {@code filepath.Match}, where only {@code [^...]}
 * negates ({@code [!a]} is the class of {@code !} and {@code a}); runtime-rs with
 * Rust's {@code glob} crate, where only {@code [!...]} does. Accepting both would
 * admit paths the owner refuses.
 *
 * <p>Matching a component takes at most (pattern length × component length)
 * steps (the classic match that backtracks only to the last {@code *}), never
 * the exponential backtracking of a regular expression: the path comes from a
 * pod's annotation, the glob from the administrator, and neither may stall the
 * runtime.
 */
final class Glob {
    /** One element of a pattern; a pattern is split into components at its literal {@code /}. */
    private sealed interface Token permits Literal, AnyChar, AnyRun, CharClass {}

    private record Literal(int codePoint) implements Token {}

    /** {@code ?} */
    private record AnyChar() implements Token {}

    /** {@code *} */
    private record AnyRun() implements Token {}

    /** {@code [a-z]} or, negated, {@code [^a-z]} (Go) / {@code [!a-z]} (runtime-rs): low, high pairs. */
    private record CharClass(boolean negate, int[] ranges) implements Token {
        boolean matches(int c) {
            boolean in = false;
            for (int i = 0; i < ranges.length && !in; i += 2) {
                in = c >= ranges[i] && c <= ranges[i + 1];
            }
            return in != negate;
        }
    }

    private final List<Token[]> components;

    private Glob(List<Token[]> components) {
        this.components = components;
    }

    /** Compiles {@code glob} as {@code runtime} reads it; throws {@link IllegalArgumentException} if malformed. */
    static Glob compile(String glob, KataRuntime runtime) {
        char negation = runtime == KataRuntime.GO ? '^' : '!';
        List<Token[]> components = new ArrayList<>();
        List<Token> current = new ArrayList<>();
        int i = 0;
        while (i < glob.length()) {
            int c = glob.codePointAt(i);
            int next = i + Character.charCount(c);
            switch (c) {
                case '*' -> current.add(new AnyRun());
                case '?' -> current.add(new AnyChar());
                case '\\' -> {
                    if (next == glob.length()) {
                        throw new IllegalArgumentException("trailing '\\'");
                    }
                    int escaped = glob.codePointAt(next);
                    next += Character.charCount(escaped);
                    current = literal(escaped, current, components);
                }
                case '[' -> next = bracket(glob, i, negation, current);
                default -> current = literal(c, current, components);
            }
            i = next;
        }
        components.add(current.toArray(Token[]::new));
        return new Glob(List.copyOf(components));
    }

    /** Adds a literal; a literal {@code /} ends the component instead. */
    private static List<Token> literal(int c, List<Token> current, List<Token[]> components) {
        if (c == '/') {
            components.add(current.toArray(Token[]::new));
            return new ArrayList<>();
        }
        current.add(new Literal(c));
        return current;
    }

    /** Reads the bracket expression starting at {@code start} into {@code out}; returns the index after its ']'. */
    private static int bracket(String glob, int start, char negation, List<Token> out) {
        int i = start + 1;
        boolean negate = i < glob.length() && glob.charAt(i) == negation;
        if (negate) {
            i++;
        }
        List<Integer> ranges = new ArrayList<>();
        boolean first = true;
        while (i < glob.length() && (glob.charAt(i) != ']' || first)) {
            int c = glob.codePointAt(i);
            if (c == '\\' && i + 1 < glob.length()) {
                i++;
                c = glob.codePointAt(i);
            }
            i += Character.charCount(c);
            int hi = c;
            if (i + 1 < glob.length() && glob.charAt(i) == '-' && glob.charAt(i + 1) != ']') {
                hi = glob.codePointAt(i + 1);
                if (hi < c) {
                    throw new IllegalArgumentException("range '" + Character.toString(c) + "-"
                            + Character.toString(hi) + "' is reversed");
                }
                i += 1 + Character.charCount(hi);
            }
            ranges.add(c);
            ranges.add(hi);
            first = false;
        }
        if (i >= glob.length()) {
            throw new IllegalArgumentException("'[' at offset " + start + " is not closed");
        }
        out.add(new CharClass(negate, ranges.stream().mapToInt(Integer::intValue).toArray()));
        return i + 1;
    }

    /** Whether {@code path} matches the whole pattern. */
    boolean matches(String path) {
        // '/' in a path is matched by a literal '/' only, so the n-th '/' of each must meet
        String[] parts = path.split("/", -1);
        if (parts.length != components.size()) {
            return false;
        }
        for (int k = 0; k < parts.length; k++) {
            if (!matchesComponent(components.get(k), parts[k].codePoints().toArray())) {
                return false;
            }
        }
        return true;
    }

    /** Wildcard match of one component, going back only to the last {@code *}: O(pattern × text) at worst. */
    private static boolean matchesComponent(Token[] p, int[] s) {
        int pi = 0;
        int si = 0;
        int star = -1;
        int mark = 0;
        while (si < s.length) {
            if (pi < p.length && p[pi] instanceof AnyRun) {
                star = pi++;
                mark = si;
            } else if (pi < p.length && matchesOne(p[pi], s[si])) {
                pi++;
                si++;
            } else if (star >= 0) {
                pi = star + 1;
                si = ++mark;
            } else {
                return false;
            }
        }
        while (pi < p.length && p[pi] instanceof AnyRun) {
            pi++;
        }
        return pi == p.length;
    }

    private static boolean matchesOne(Token t, int c) {
        return switch (t) {
            case Literal l -> l.codePoint() == c;
            case AnyChar a -> true;
            case CharClass cc -> cc.matches(c);
            case AnyRun r -> throw new IllegalStateException("a run is matched by the caller");
        };
    }
}
