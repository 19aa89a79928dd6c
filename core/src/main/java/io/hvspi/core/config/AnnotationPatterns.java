package io.hvspi.core.config;

import com.google.re2j.Pattern;
import com.google.re2j.PatternSyntaxException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * {@code enable_annotations}: regular expressions with RE2 semantics (Go's
 * {@code regexp}, Rust's {@code regex}), here through Google's RE2/J, matched
 * against the annotation name after {@code io.katacontainers.config.hypervisor.}
 * as Kata matches them: <em>unanchored</em>, so {@code "kernel"} also enables
 * {@code kernel_params} and {@code "path"} also {@code jailer_path}.
 *
 * <p>A pattern that does not compile is treated as the owning runtime treats it:
 * <ul>
 * <li>Go ({@code src/runtime/pkg/oci/utils.go: regexpContains}) calls
 *     {@code regexp.MatchString} per pattern and drops its error: that pattern
 *     enables nothing, the others still apply;</li>
 * <li>runtime-rs (kata-types {@code src/config/hypervisor/mod.rs:
 *     SecurityInfo::is_annotation_enabled}) builds one {@code RegexSet} of all
 *     patterns and answers false when it does not build: no annotation is enabled.</li>
 * </ul>
 * Either way the file still loads, and {@code config check} warns naming the pattern.
 */
final class AnnotationPatterns {
    private AnnotationPatterns() {}

    /** The compiled pattern, or empty when {@code runtime}'s regex library refuses it. */
    static Optional<Pattern> compile(String regex, KataRuntime runtime) {
        if (problem(regex, runtime).isPresent()) {
            return Optional.empty();
        }
        return Optional.of(Pattern.compile(regex));
    }

    /** Why {@code runtime}'s regex library (Go's regexp, Rust's regex) refuses {@code regex}, or empty when it compiles. */
    static Optional<String> problem(String regex, KataRuntime runtime) {
        Optional<String> limit = limitProblem(regex);
        if (limit.isEmpty() && runtime == KataRuntime.RUNTIME_RS && rustDepth(regex) > RUST_NEST_LIMIT) {
            limit = Optional.of("expression nests too deeply (more than " + RUST_NEST_LIMIT
                    + " levels, Rust regex-syntax's nest limit)");
        }
        if (limit.isPresent()) {
            return limit;
        }
        try {
            Pattern.compile(regex);
            return Optional.empty();
        } catch (PatternSyntaxException e) {
            return Optional.of(e.getDescription());
        }
    }

    /** Go's regexp/syntax limits (parse.go): maxHeight, repeatIsValid's 1000 copies, maxSize in instructions. */
    static final int MAX_NESTING = 1000;
    static final int MAX_COPIES = 1000;
    static final long MAX_SIZE = (128 << 20) / 40;

    /**
     * Where Go refuses what RE2/J would try: nesting deeper than {@link #MAX_NESTING}
     * ("expression nests too deeply"; RE2/J recurses into a StackOverflowError),
     * nested repeats of more than {@link #MAX_COPIES} copies in all ("invalid repeat
     * count", CVE-2022-41715: RE2/J expands {@code ((a{1000}){1000}){1000}} for minutes)
     * or an expansion beyond {@link #MAX_SIZE} ("expression too large"). One linear
     * scan, before RE2/J sees the pattern; counts are estimates that err towards refusing.
     */
    static Optional<String> limitProblem(String regex) {
        record Group(long copies, long size) {}
        java.util.ArrayDeque<Group> open = new java.util.ArrayDeque<>();
        long copies = 1; // the most copies of one thing in the current group so far
        long size = 0;   // instructions of the current group so far
        long lastCopies = 1;
        long lastSize = 0;
        int n = regex.length();
        for (int i = 0; i < n; i++) {
            char c = regex.charAt(i);
            switch (c) {
                case '\\' -> {
                    int quoted = quotedLength(regex, i);
                    size += quoted >= 0 ? quoted : 1;
                    lastCopies = 1;
                    lastSize = 1;
                    i = escapeEnd(regex, i);
                }
                case '[' -> {
                    i = classEnd(regex, i);
                    lastCopies = 1;
                    lastSize = 1;
                    size++;
                }
                case '(' -> {
                    if (open.size() >= MAX_NESTING) {
                        return Optional.of("expression nests too deeply (more than " + MAX_NESTING
                                + " groups, Go's regexp/syntax limit)");
                    }
                    open.push(new Group(copies, size));
                    copies = 1;
                    size = 0;
                }
                case ')' -> {
                    if (open.isEmpty()) {
                        continue; // RE2/J refuses it
                    }
                    lastCopies = copies;
                    lastSize = size;
                    Group outer = open.pop();
                    copies = Math.max(outer.copies(), copies);
                    size = outer.size() + size;
                }
                case '{' -> {
                    long count = repeatCount(regex, i);
                    if (count >= 2) {
                        long total = lastCopies * count;
                        if (total > MAX_COPIES) {
                            return Optional.of("invalid repeat count: nested repeats make " + total
                                    + " copies, more than Go's regexp/syntax allows (" + MAX_COPIES + ")");
                        }
                        copies = Math.max(copies, total);
                        size += lastSize * (count - 1);
                        if (size > MAX_SIZE) {
                            return Optional.of("expression too large (Go's regexp/syntax limit)");
                        }
                        lastCopies = total;
                        lastSize *= count;
                    }
                }
                default -> {
                    lastCopies = 1;
                    lastSize = 1;
                    size++;
                }
            }
        }
        return Optional.empty();
    }

    /** regex-syntax's default nest limit, which runtime-rs's {@code RegexSetBuilder} keeps. */
    static final int RUST_NEST_LIMIT = 250;

    /**
     * The depth regex-syntax's NestLimiter finds in {@code regex}: a group, a bracketed class, a
     * repetition, an alternation and a concatenation each nest one level; literals, escapes and flags
     * none. One scan with a frame per open group; a parse error is left to RE2/J.
     */
    static int rustDepth(String regex) {
        final class Frame {
            int items;          // of the current branch
            int deepestItem;    // of the current branch
            int deepestBranch;  // of the branches before it
            boolean alternation;
            int lastItem = -1;  // the last item's depth, which a repetition nests

            void item(int depth) {
                items++;
                lastItem = depth;
                deepestItem = Math.max(deepestItem, depth);
            }

            void repeat() {
                if (lastItem >= 0) {
                    lastItem++;
                    deepestItem = Math.max(deepestItem, lastItem);
                }
            }

            int branch() {
                return items > 1 ? 1 + deepestItem : deepestItem;
            }

            void nextBranch() {
                deepestBranch = Math.max(deepestBranch, branch());
                alternation = true;
                items = 0;
                deepestItem = 0;
                lastItem = -1;
            }

            int depth() {
                return alternation ? 1 + Math.max(deepestBranch, branch()) : branch();
            }
        }
        java.util.ArrayDeque<Frame> open = new java.util.ArrayDeque<>();
        Frame frame = new Frame();
        int n = regex.length();
        for (int i = 0; i < n; i++) {
            char c = regex.charAt(i);
            switch (c) {
                case '\\' -> {
                    int quoted = quotedLength(regex, i);
                    for (int k = 0; k < (quoted >= 0 ? quoted : 1); k++) {
                        frame.item(0); // each quoted character a literal
                    }
                    i = escapeEnd(regex, i);
                }
                case '[' -> {
                    i = classEnd(regex, i);
                    frame.item(1);
                }
                case '(' -> {
                    int flagsEnd = flagsOnly(regex, i);
                    if (flagsEnd > 0) {
                        i = flagsEnd;
                        frame.item(0);
                        continue;
                    }
                    open.push(frame);
                    frame = new Frame();
                    i = groupPrefixEnd(regex, i);
                }
                case ')' -> {
                    if (open.isEmpty()) {
                        continue; // RE2/J refuses it
                    }
                    int group = 1 + frame.depth();
                    frame = open.pop();
                    frame.item(group);
                }
                case '|' -> frame.nextBranch();
                case '*', '+', '?' -> {
                    char before = i > 0 ? regex.charAt(i - 1) : 0;
                    if (c != '?' || (before != '*' && before != '+' && before != '?' && before != '}')) {
                        frame.repeat(); // a '?' after a repetition makes it lazy, no new level
                    }
                }
                case '{' -> {
                    java.util.regex.Matcher m = REPEAT.matcher(regex).region(i, n);
                    if (m.lookingAt()) {
                        frame.repeat();
                        i = m.end() - 1;
                    } else {
                        frame.item(0);
                    }
                }
                default -> frame.item(0);
            }
        }
        while (!open.isEmpty()) { // unclosed: RE2/J refuses it; count what was seen
            int group = 1 + frame.depth();
            frame = open.pop();
            frame.item(group);
        }
        return frame.depth();
    }

    /** The last index of a group's opening: its '(', or the ':' of {@code (?i:} or the '>' of {@code (?P<name>}. */
    private static int groupPrefixEnd(String regex, int start) {
        if (!regex.startsWith("(?", start)) {
            return start;
        }
        int end = regex.indexOf(regex.startsWith("(?P<", start) || regex.startsWith("(?<", start) ? '>' : ':', start);
        return end < 0 ? start : end;
    }

    /** The index of the ')' of a flags-only group such as {@code (?i)} at {@code start}, or -1. */
    private static int flagsOnly(String regex, int start) {
        if (!regex.startsWith("(?", start)) {
            return -1;
        }
        for (int i = start + 2; i < regex.length(); i++) {
            char c = regex.charAt(i);
            if (c == ')') {
                return i;
            }
            if (!Character.isLetter(c) && c != '-') {
                return -1;
            }
        }
        return -1;
    }

    /** The characters {@code \Q...\E} at {@code i} quotes, or -1 when the escape there is another. */
    private static int quotedLength(String regex, int i) {
        if (i + 1 >= regex.length() || regex.charAt(i + 1) != 'Q') {
            return -1;
        }
        int end = regex.indexOf("\\E", i + 2);
        return (end < 0 ? regex.length() : end) - (i + 2);
    }

    /**
     * Where the escape at {@code i} ends: {@code \Q...\E} at its {@code E} (or the pattern's end), and
     * {@code \x{2028}} and {@code \p{Greek}} hold braces, not a repeat.
     */
    private static int escapeEnd(String regex, int i) {
        if (quotedLength(regex, i) >= 0) {
            int end = regex.indexOf("\\E", i + 2);
            return end < 0 ? regex.length() - 1 : end + 1;
        }
        int letter = i + 1;
        if (letter + 1 < regex.length() && "xpP".indexOf(regex.charAt(letter)) >= 0 && regex.charAt(letter + 1) == '{') {
            int close = regex.indexOf('}', letter + 2);
            return close < 0 ? regex.length() : close;
        }
        return letter;
    }

    /** The index of the {@code ]} closing the class that opens at {@code start}, or the last index. */
    private static int classEnd(String regex, int start) {
        int i = start + 1;
        if (i < regex.length() && regex.charAt(i) == '^') {
            i++;
        }
        if (i < regex.length() && regex.charAt(i) == ']') {
            i++; // a ']' first is literal
        }
        for (; i < regex.length(); i++) {
            char c = regex.charAt(i);
            if (c == '\\') {
                i++;
            } else if (c == '[' && regex.startsWith("[:", i)) {
                int end = regex.indexOf(":]", i + 2);
                i = end < 0 ? i : end + 1;
            } else if (c == ']') {
                return i;
            }
        }
        return regex.length() - 1;
    }

    /**
     * The copies {@code {n}}, {@code {n,}} or {@code {n,m}} at {@code i} makes, as
     * repeatIsValid counts them (the maximum, or the minimum when unbounded); 0 when
     * the brace is a literal. Beyond 4 digits it is just too many (RE2/J refuses over 1000 too).
     */
    private static long repeatCount(String regex, int i) {
        java.util.regex.Matcher m = REPEAT.matcher(regex).region(i, regex.length());
        if (!m.lookingAt()) {
            return 0;
        }
        String max = m.group(2) == null || m.group(3).isEmpty() ? m.group(1) : m.group(3);
        return max.length() > 4 ? MAX_COPIES + 1 : Long.parseLong(max);
    }

    private static final java.util.regex.Pattern REPEAT = java.util.regex.Pattern.compile("\\{([0-9]+)(,([0-9]*))?\\}");

    /** Whether {@code name} is enabled by {@code patterns} under {@code runtime}'s rules (see the class comment). */
    static boolean enabled(List<String> patterns, KataRuntime runtime, String name) {
        List<Optional<Pattern>> compiled = patterns.stream().map(p -> compile(p, runtime)).toList();
        if (runtime == KataRuntime.RUNTIME_RS && compiled.stream().anyMatch(Optional::isEmpty)) {
            return false;
        }
        return compiled.stream().flatMap(Optional::stream).anyMatch(p -> p.matcher(name).find());
    }

    /** For each pattern, the names of {@code known} it enables (none for one that does not compile). */
    static Map<String, List<String>> enabledBy(List<String> patterns, KataRuntime runtime, List<String> known) {
        boolean setBroken = runtime == KataRuntime.RUNTIME_RS
                && patterns.stream().anyMatch(p -> problem(p, runtime).isPresent());
        Map<String, List<String>> result = new LinkedHashMap<>();
        for (String regex : patterns) {
            List<String> names = new ArrayList<>();
            Optional<Pattern> p = compile(regex, runtime);
            if (p.isPresent() && !setBroken) {
                known.stream().filter(n -> p.get().matcher(n).find()).forEach(names::add);
            }
            result.put(regex, List.copyOf(names));
        }
        return result;
    }

    /** A warning per pattern that does not compile, saying what the owning runtime does instead. */
    static List<ConfigNote> problems(List<String> patterns, Locator at) {
        List<ConfigNote> notes = new ArrayList<>();
        for (String regex : patterns) {
            problem(regex, at.runtime()).ifPresent(why -> notes.add(at.note("enable_annotations", Locator.show(regex)
                    + " is not a regular expression " + (at.runtime() == KataRuntime.RUNTIME_RS ? "runtime-rs's regex crate"
                    : "Go's regexp") + " compiles (" + why + "): "
                    + (at.runtime() == KataRuntime.RUNTIME_RS
                    ? "runtime-rs then enables no annotation at all (its RegexSet of the list fails to build)"
                    : "the Go runtime ignores this pattern (regexpContains drops the error); the others apply"))));
        }
        return notes;
    }
}
