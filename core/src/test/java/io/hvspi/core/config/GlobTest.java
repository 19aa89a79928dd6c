package io.hvspi.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class GlobTest {

    @ParameterizedTest(name = "{0} ~ {1}: {2}")
    @CsvSource(delimiter = '|', value = {
            "/usr/bin/qemu-*       | /usr/bin/qemu-system-x86_64 | true",
            "/usr/bin/qemu-*       | /usr/bin/qemu-a/b           | false",
            "/usr/bin/*            | /usr/bin/../../tmp/evil     | false",
            "/usr/bin/*            | /usr/bin/..                 | true",
            "/usr/bin/qemu-?       | /usr/bin/qemu-1             | true",
            "/usr/bin/qemu-?       | /usr/bin/qemu-12            | false",
            "/usr/bin/qemu-?       | /usr/bin/qemu-/             | false",
            "/dev/[ru]random       | /dev/urandom                | true",
            "/dev/[ru]random       | /dev/random                 | false",
            "/dev/[!u]random       | /dev/xrandom                | true",
            "/dev/[!u]random       | /dev/urandom                | false",
            "/a/[a-c]x             | /a/bx                       | true",
            "/a/[a-c]x             | /a/dx                       | false",
            "/a[/]b                | /a/b                        | false",
            "/a[!x]b               | /a/b                        | false",
            "/a[^x]b               | /a/b                        | false",
            "/a/[]x]               | /a/]                        | true",
            "/a/\\*                | /a/*                        | true",
            "/a/\\*                | /a/b                        | false",
            "/usr/bin/qemu.kvm     | /usr/bin/qemuXkvm           | false",
            "/opt/{a,b}            | /opt/a                      | false",
            "/opt/{a,b}            | /opt/{a,b}                  | true",
            "/opt/**               | /opt/a/b                    | false",
            "/opt/(a)+             | /opt/aa                     | false",
            "''                    | ''                          | true",
            "''                    | /dev/urandom                | false",
    })
    void globsMatchLikeFnmatchWithPathname(String glob, String path, boolean matches) {
        assertEquals(matches, Glob.compile(glob, KataRuntime.RUNTIME_RS).matches(path));
        assertEquals(matches, Glob.compile(glob.replace("[!", "[^"), KataRuntime.GO).matches(path));
    }

    /**
     * Go's filepath.Match negates only with '^' ("[!u]" is the class of '!' and 'u'),
     * Rust's glob crate only with '!'; hvspi took both as negation, so a Go file's
     * "/x/qemu-[!a]" admitted /x/qemu-b.
     */
    @ParameterizedTest(name = "{0} {1} ~ {2}: {3}")
    @CsvSource(delimiter = '|', value = {
            "GO         | /x/qemu-[!a] | /x/qemu-b | false",
            "GO         | /x/qemu-[!a] | /x/qemu-! | true",
            "GO         | /x/qemu-[^a] | /x/qemu-b | true",
            "GO         | /x/qemu-[^a] | /x/qemu-a | false",
            "RUNTIME_RS | /x/qemu-[!a] | /x/qemu-b | true",
            "RUNTIME_RS | /x/qemu-[!a] | /x/qemu-a | false",
            "RUNTIME_RS | /x/qemu-[^a] | /x/qemu-b | false",
            "RUNTIME_RS | /x/qemu-[^a] | /x/qemu-^ | true",
    })
    void eachRuntimeNegatesABracketWithItsOwnCharacter(KataRuntime runtime, String glob, String path,
                                                       boolean matches) {
        assertEquals(matches, Glob.compile(glob, runtime).matches(path));
    }

    /**
     * The first Glob was a regular expression, which backtracks: this pair took
     * 22 s with five stars and would take hours with seven. A pod sets the path;
     * the match must never stall the runtime.
     */
    @Test
    void manyStarsInOneComponentDoNotMakeMatchingBacktrack() {
        String name = "a".repeat(AnnotationPaths.NAME_MAX);
        assertEquals(false, Glob.compile("/opt/*a*a*a*a*a*a*a*b", KataRuntime.GO).matches("/opt/" + name));
        assertEquals(true, Glob.compile("/opt/*a*a*a*a*a*a*a*", KataRuntime.GO).matches("/opt/" + name));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "/a/[b    | '[' at offset 3 is not closed",
            "/a/[!    | '[' at offset 3 is not closed",
            "/a/\\    | trailing '\\'",
            "/a/[z-a] | range 'z-a' is reversed",
    })
    void malformedGlobsAreRefusedWithTheReason(String glob, String reason) {
        assertEquals(reason, assertThrows(IllegalArgumentException.class, () -> Glob.compile(glob, KataRuntime.RUNTIME_RS)).getMessage());
    }
}
