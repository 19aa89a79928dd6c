package io.hvspi.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hvspi.spi.ConfigException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Attempts to get past the two allow-lists a pod author faces: the regular
 * expressions of {@code enable_annotations} and the globs of the
 * {@code valid_*} lists. Each row is a bypass that a lexical glob check or a
 * careless path check would let through, or a name Kata's unanchored matching
 * enables beyond the one the pattern spells.
 */
class AllowListBypassTest {
    static final String P = AnnotationPolicy.PREFIX;

    static KataConfig config(String enable, String validHypervisorPaths) {
        return KataConfigLoader.parse("""
                [hypervisor.qemu]
                enable_annotations = %s
                valid_hypervisor_paths = %s
                valid_jailer_paths = ["/usr/bin/jailer"]
                """.formatted(enable, validHypervisorPaths), Path.of("configuration.toml"));
    }

    static String toml(List<String> values) {
        return values.stream().map(v -> "'" + v + "'").collect(Collectors.joining(", ", "[", "]"));
    }

    // ---- enable_annotations: RE2, unanchored, as Kata's Go runtime matches (oci/utils.go: regexpContains,
    // regexp.MatchString). Every "true" below that is not a whole-name match is a name the pattern also enables
    // in Kata: an operator must anchor (^...$) to enable one name only.

    @ParameterizedTest(name = "{0} ~ {1}: {2}")
    @CsvSource(delimiterString = " | ", quoteCharacter = '`', value = {
            "kernel_params              | kernel_params          | true",
            "kernel_params              | kernel_params_extra    | true",
            "kernel_params              | xkernel_params         | true",
            "kernel_params              | kernel_params\\n       | true",
            "kernel_params$             | kernel_params\\n       | false",
            "^kernel_params$            | kernel_params\\n       | false",
            "^kernel_params$            | kernel_params          | true",
            "kernel                     | kernel_params          | true",
            "params                     | kernel_params          | true",
            "path                       | jailer_path            | true",
            "path                       | vhost_user_store_path  | true",
            "^path$                     | jailer_path            | false",
            "path|kernel                | pathkernel             | true",
            "^(path|kernel)$            | pathkernel             | false",
            "^(path|kernel)$            | kernel                 | true",
            "^path|kernel$              | path_x                 | true",
            "^path|kernel$              | x_kernel               | true",
            "^path|kernel$              | x_path                 | false",
            "indep_iothreads            | indep_iothreads_policy | true",
            "default_(vcpus|memory)     | default_vcpus          | true",
            "default_(vcpus|memory)     | default_maxvcpus       | false",
            "kernel_.*                  | kernel_params\\nx      | true",
            "``                         | kernel_params          | true",
            // RE2 syntax Java's regex reads otherwise: named groups, POSIX classes
            "(?P<n>indep_iothreads)     | indep_iothreads        | true",
            "^[[:alpha:]_]+$            | kernel_params          | true",
            "^[[:alpha:]_]+$            | blk_logical_sector_size | true",
            "^[[:digit:]]+$             | kernel_params          | false",
            // (?<n>...) is RE2 too since Go 1.22 and RE2/J 1.7;
            // Java-only syntax RE2 refuses: the pattern enables nothing (Go drops its error)
            "(?=kernel)kernel_params    | kernel_params          | false",
            "kernel_params++            | kernel_params          | false",
            "(?<n>kernel_params)        | kernel_params          | true",
            "kernel_param\\Z            | kernel_params          | false",
    })
    void anEnableAnnotationsRegexMatchesAsKataGoDoes(String regex, String name, boolean enabled) {
        assertEquals(enabled, AnnotationPolicy.enabled(List.of(regex), name.replace("\\n", "\n")));
    }

    /** Unanchored end to end: the pattern enables the longer name too, whose value is then checked as usual. */
    @ParameterizedTest(name = "{0} enables {1}")
    @CsvSource(delimiterString = " | ", value = {
            "['kernel']              | kernel_params   | init=/bin/sh",
            "['initrd|kernel']       | kernel_params   | init=/bin/sh",
            "['^image|kernel$']      | kernel          | /usr/share/kata/vmlinux",
            "['indep_iothreads']     | indep_iothreads_policy | first",
            "['default_']            | default_vcpus   | 1",
    })
    void aRegexEnablesNamesItOnlyContainsAsKataDoes(String enable, String name, String value) {
        KataConfig c = config(enable.replace('\'', '"'), "['/usr/bin/qemu-*']");
        assertEquals(Map.of(P + name, value), c.withAnnotations(Map.of(P + name, value)).annotations());
    }

    /** Anchoring is how an operator enables one name only. */
    @ParameterizedTest(name = "{0} does not enable {1}")
    @CsvSource(delimiterString = " | ", value = {
            "['^path$']              | jailer_path     | /usr/bin/jailer",
            "['^kernel$']            | kernel_params   | init=/bin/sh",
            "['^(image|kernel)$']    | kernel_params   | init=/bin/sh",
            "['^indep_iothreads$']   | indep_iothreads_policy | first",
            "['enable_iothreads']    | enable_iommu    | true",
    })
    void anAnchoredRegexEnablesOnlyTheWholeName(String enable, String name, String value) {
        KataConfig c = config(enable.replace('\'', '"'), "['/usr/bin/qemu-*']");
        ConfigException e = assertThrows(ConfigException.class, () -> c.withAnnotations(Map.of(P + name, value)));
        assertTrue(e.problem().startsWith("annotation not enabled"), e.getMessage());
    }

    /** The allow-lists themselves are configuration only: no annotation widens them, whatever is enabled. */
    @ParameterizedTest
    @CsvSource({"enable_annotations, '.*'", "valid_hypervisor_paths, /tmp/*", "valid_jailer_paths, /*"})
    void noAnnotationCanWidenAnAllowList(String name, String value) {
        KataConfig c = config("['.*']", "['/usr/bin/qemu-*']");
        ConfigException e = assertThrows(ConfigException.class, () -> c.withAnnotations(Map.of(P + name, value)));
        assertTrue(e.problem().startsWith("neither Kata nor hvspi knows this annotation"), e.getMessage());
    }

    // ---- path spelling: what a glob sees is what the VMM opens

    @ParameterizedTest(name = "path = {0}")
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
            "/usr/bin/qemu-system-x86_64                 | ",
            "/usr/bin/../bin/qemu-system-x86_64          | a path with a \"..\" component is refused",
            "/usr/bin/qemu-system-x/../../../tmp/evil    | a path with a \"..\" component is refused",
            "/usr/bin/qemu-system-x86_64/..              | a path with a \"..\" component is refused",
            "/usr//bin/qemu-system-x86_64                | expected a path in normal form",
            "//usr/bin/qemu-system-x86_64                | expected a path in normal form",
            "/usr/bin/./qemu-system-x86_64               | expected a path in normal form",
            "/usr/bin/qemu-system-x86_64/                | expected a path in normal form",
            "/usr/bin/qemu-system-x86_64/.               | expected a path in normal form",
            "usr/bin/qemu-system-x86_64                  | expected an absolute path",
            "./qemu-system-x86_64                        | expected an absolute path",
            "~/qemu-system-x86_64                        | expected an absolute path",
            "``                                          | expected an absolute path",
            "/usr/bin/qemu-system-x86_64\\0/x            | expected printable characters only",
            "/usr/bin/qemu-system-x86_64\\n              | expected printable characters only",
            "/usr/bin/qemu-system-x86_64\\u200b          | expected printable characters only",
            "/usr/bin/QEMU-system-x86_64                 | \"/usr/bin/QEMU-system-x86_64\" matches no glob",
            "/usr/bin/qemu-system-x86_64/sub             | \"/usr/bin/qemu-system-x86_64/sub\" matches no glob",
            "/usr/bin/qemu-                              | ",
    })
    void pathAnnotationsMustBeAbsoluteNormalAndPrintable(String value, String problem) {
        KataConfig c = config("['path']", "['/usr/bin/qemu-*']");
        String v = value.replace("\\0", "\0").replace("\\n", "\n").replace("\\u200b", "\u200b");
        if (problem == null) {
            assertEquals(v, c.withAnnotations(Map.of(P + "path", v)).hypervisor().path());
        } else {
            ConfigException e = assertThrows(ConfigException.class, () -> c.withAnnotations(Map.of(P + "path", v)));
            assertTrue(e.problem().startsWith(problem), e.getMessage());
        }
    }

    @Test
    void overlongPathsAndComponentsAreRefused() {
        KataConfig c = config("['path']", "['/usr/bin/qemu-*']");
        String longName = "/usr/bin/qemu-" + "x".repeat(AnnotationPaths.NAME_MAX);
        assertTrue(assertThrows(ConfigException.class, () -> c.withAnnotations(Map.of(P + "path", longName)))
                .problem().startsWith("expected path components of at most 255 bytes"));
    }

    // ---- symbolic links where a glob is checked

    @TempDir
    Path tmp;
    Path allowed;
    Path outside;

    /**
     * {@code allowed/} is what the list allows ({@code allowed/qemu-*}); {@code outside/evil}
     * is a binary it does not; {@code linkdir} is a link to {@code allowed/}.
     */
    @BeforeEach
    void tree() throws IOException {
        Path base = tmp.toRealPath();
        allowed = Files.createDirectory(base.resolve("allowed"));
        outside = Files.createDirectory(base.resolve("outside"));
        Files.writeString(outside.resolve("evil"), "#!/bin/sh\n");
        Files.writeString(allowed.resolve("qemu-real"), "qemu\n");
        Files.createSymbolicLink(allowed.resolve("qemu-relative"), Path.of("../outside/evil"));
        Files.createSymbolicLink(allowed.resolve("qemu-absolute"), outside.resolve("evil"));
        Files.createSymbolicLink(allowed.resolve("qemu-inside"), Path.of("qemu-real"));
        Files.createSymbolicLink(allowed.resolve("qemu-hop"), outside.resolve("evil"));
        Files.createSymbolicLink(allowed.resolve("qemu-chain"), Path.of("qemu-hop"));
        Files.createSymbolicLink(allowed.resolve("qemu-dangling"), outside.resolve("not-yet"));
        Files.createSymbolicLink(allowed.resolve("qemu-loop"), Path.of("qemu-loop"));
        Files.createSymbolicLink(allowed.resolve("sub"), outside);
        Files.createSymbolicLink(base.resolve("linkdir"), allowed);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            // a link in an allowed directory to a file out of the list
            "allowed/qemu-relative | allowed/qemu-* | outside/evil",
            "allowed/qemu-absolute | allowed/qemu-* | outside/evil",
            "allowed/qemu-chain    | allowed/qemu-* | outside/evil",
            // a directory link in the part a wildcard matches
            "allowed/sub/qemu      | allowed/*/qemu | outside/qemu",
            // through an allowed directory link, then out
            "linkdir/qemu-absolute | linkdir/qemu-* | outside/evil",
    })
    void aLinkThatLeadsOutOfTheListIsRefused(String value, String glob, String target) {
        Path base = allowed.getParent();
        KataConfig c = config("['path']", toml(List.of(base + "/" + glob)));
        ConfigException e = assertThrows(ConfigException.class,
                () -> c.withAnnotations(Map.of(P + "path", base + "/" + value)));
        assertEquals(P + "path: \"" + base + "/" + value + "\" leads through a symbolic link to \"" + base + "/"
                + target + "\", which matches no glob of valid_hypervisor_paths [\"" + base + "/" + glob + "\"]",
                e.getMessage());
    }

    /** A link to nothing could be pointed anywhere by creating its target later. */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"allowed/qemu-dangling", "allowed/qemu-loop"})
    void aLinkThatLeadsNowhereIsRefused(String value) {
        Path base = allowed.getParent();
        KataConfig c = config("['path']", toml(List.of(base + "/allowed/qemu-*")));
        ConfigException e = assertThrows(ConfigException.class,
                () -> c.withAnnotations(Map.of(P + "path", base + "/" + value)));
        assertEquals(P + "path: \"" + base + "/" + value + "\" cannot be resolved to check it against"
                + " valid_hypervisor_paths: " + base + "/" + value + ": a symbolic link that leads nowhere (its target"
                + " does not exist, or links loop)", e.getMessage());
    }

    @ParameterizedTest(name = "{0} with {1}")
    @CsvSource({
            // no link at all; a file that does not exist yet is checked as written
            "allowed/qemu-real, allowed/qemu-*",
            "allowed/qemu-future, allowed/qemu-*",
            // a link that stays in the list
            "allowed/qemu-inside, allowed/qemu-*",
            // the list names a linked directory (as Kata's /var/run names /run): the place it means is allowed
            "linkdir/qemu-real, linkdir/qemu-*",
            "linkdir/qemu-inside, linkdir/qemu-*",
            "linkdir/qemu-real, linkdir/qemu-real",
    })
    void aPathThatStaysInTheListIsAccepted(String value, String glob) {
        Path base = allowed.getParent();
        KataConfig c = config("['path']", toml(List.of(base + "/" + glob)));
        assertEquals(base + "/" + value, c.withAnnotations(Map.of(P + "path", base + "/" + value)).hypervisor().path());
    }

    @Test
    void aLinkOutIsAcceptedWhenTheListAlsoAllowsItsTarget() {
        Path base = allowed.getParent();
        KataConfig c = config("['path']", toml(List.of(base + "/allowed/qemu-*", base + "/outside/evil")));
        assertEquals(base + "/allowed/qemu-absolute", c.withAnnotations(Map.of(P + "path",
                base + "/allowed/qemu-absolute")).hypervisor().path());
    }

    @Test
    void theRealDirectoryIsNotAllowedWhenTheListNamesOnlyTheLink() {
        Path base = allowed.getParent();
        KataConfig c = config("['path']", toml(List.of(base + "/linkdir/qemu-*")));
        ConfigException e = assertThrows(ConfigException.class,
                () -> c.withAnnotations(Map.of(P + "path", base + "/allowed/qemu-real")));
        assertTrue(e.problem().contains("matches no glob of valid_hypervisor_paths"), e.getMessage());
    }

    @Test
    void katasVarRunListStillAllowsItsPathWhereVarRunIsALink() throws IOException {
        Path varRun = Path.of("/var/run");
        assumeTrue(Files.isSymbolicLink(varRun), "/var/run is not a symbolic link here");
        KataConfig c = KataConfigLoader.parse("""
                [hypervisor.qemu]
                enable_annotations = ["vhost_user_store_path"]
                valid_vhost_user_store_paths = ["/var/run/kata-containers/vhost-user"]
                """, Path.of("configuration.toml"));
        assertEquals("/var/run/kata-containers/vhost-user", c.withAnnotations(Map.of(P + "vhost_user_store_path",
                "/var/run/kata-containers/vhost-user")).hypervisor().vhostUserStorePath());
    }
}
