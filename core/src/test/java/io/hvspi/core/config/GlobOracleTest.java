package io.hvspi.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.statistics.Statistics;

/**
 * The linear {@link Glob} matches exactly what the first, regex-based one
 * ({@link RegexGlob}) matched, and refuses exactly the globs it refused, with
 * the same reason: the rewrite changed how long matching takes, nothing else.
 */
class GlobOracleTest {

    @Property(tries = 5000, seed = "20261129")
    void linearGlobAgreesWithTheRegexTranslation(@ForAll("globsAndPaths") Tuple.Tuple2<String, String> pair,
                                                 @ForAll KataRuntime runtime) {
        String glob = pair.get1();
        String path = pair.get2();
        String regexReason = null;
        boolean regexMatch = false;
        try {
            regexMatch = RegexGlob.compile(glob, runtime == KataRuntime.GO ? '^' : '!').matcher(path).matches();
        } catch (IllegalArgumentException e) {
            regexReason = e.getMessage();
        }
        String reason = null;
        boolean match = false;
        try {
            match = Glob.compile(glob, runtime).matches(path);
        } catch (IllegalArgumentException e) {
            reason = e.getMessage();
        }
        assertEquals(regexReason, reason, "refusal of " + glob);
        assertEquals(regexMatch, match, glob + " ~ " + path);
        Statistics.collect(reason != null ? "malformed" : match ? "match" : "no match");
        Statistics.coverage(c -> c.check("match").percentage(p -> p > 5));
    }

    /** A glob, and either a random path or one made from the glob (wildcards filled in), so that some match. */
    @Provide
    Arbitrary<Tuple.Tuple2<String, String>> globsAndPaths() {
        Arbitrary<String> globs = Arbitraries.strings().withChars("ab/*?[]!^-\\.é").ofMaxLength(12);
        Arbitrary<String> paths = Arbitraries.strings().withChars("ab/.-*[]é").ofMaxLength(12);
        return globs.flatMap(g -> Arbitraries.oneOf(paths, filledIn(g)).map(p -> Tuple.of(g, p)));
    }

    private static Arbitrary<String> filledIn(String glob) {
        Arbitrary<String> result = Arbitraries.just("");
        for (char c : glob.toCharArray()) {
            Arbitrary<String> part = switch (c) {
                case '*' -> Arbitraries.of("", "a", "b.", "ab", "é");
                case '?' -> Arbitraries.of("a", "é", "-");
                case '[', ']', '\\' -> Arbitraries.of("", "a", String.valueOf(c));
                default -> Arbitraries.just(String.valueOf(c));
            };
            result = result.flatMap(prefix -> part.map(s -> prefix + s));
        }
        return result;
    }
}
