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

    /** The compiled pattern, or empty when RE2 refuses it. */
    static Optional<Pattern> compile(String regex) {
        try {
            return Optional.of(Pattern.compile(regex));
        } catch (PatternSyntaxException e) {
            return Optional.empty();
        }
    }

    /** Why RE2 refuses {@code regex}, or empty when it compiles. */
    static Optional<String> problem(String regex) {
        try {
            Pattern.compile(regex);
            return Optional.empty();
        } catch (PatternSyntaxException e) {
            return Optional.of(e.getDescription());
        }
    }

    /** Whether {@code name} is enabled by {@code patterns} under {@code runtime}'s rules (see the class comment). */
    static boolean enabled(List<String> patterns, KataRuntime runtime, String name) {
        List<Optional<Pattern>> compiled = patterns.stream().map(AnnotationPatterns::compile).toList();
        if (runtime == KataRuntime.RUNTIME_RS && compiled.stream().anyMatch(Optional::isEmpty)) {
            return false;
        }
        return compiled.stream().flatMap(Optional::stream).anyMatch(p -> p.matcher(name).find());
    }

    /** For each pattern, the names of {@code known} it enables (none for one that does not compile). */
    static Map<String, List<String>> enabledBy(List<String> patterns, KataRuntime runtime, List<String> known) {
        boolean setBroken = runtime == KataRuntime.RUNTIME_RS
                && patterns.stream().anyMatch(p -> problem(p).isPresent());
        Map<String, List<String>> result = new LinkedHashMap<>();
        for (String regex : patterns) {
            List<String> names = new ArrayList<>();
            Optional<Pattern> p = compile(regex);
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
            problem(regex).ifPresent(why -> notes.add(at.note("enable_annotations", Locator.show(regex)
                    + " is not a valid RE2 regular expression (" + why + "): "
                    + (at.runtime() == KataRuntime.RUNTIME_RS
                    ? "runtime-rs then enables no annotation at all (its RegexSet of the list fails to build)"
                    : "the Go runtime ignores this pattern (regexpContains drops the error); the others apply"))));
        }
        return notes;
    }
}
