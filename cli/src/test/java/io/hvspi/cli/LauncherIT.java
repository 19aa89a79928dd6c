package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/hvctl's start: the AOT cache the build trained is used only with the JDK that made it, a
 * cache the JVM rejects costs nothing but its time, and only the read-and-print commands run
 * with C1 alone. Other JDKs are stand-ins (a release file and a bin/java that prints its
 * arguments), so JDK 21 to 24 are covered without being installed.
 */
class LauncherIT {
    @TempDir
    static Path tmp;

    static Path copy;

    @BeforeAll
    static void copyTheDistribution() throws IOException {
        copy = HvctlRunner.copyTree(HvctlRunner.home(), tmp.resolve("hvctl"), true);
    }

    record Run(int exit, String out, String err) {}

    private static Run hvctl(Path dist, Map<String, String> env, String... args) throws Exception {
        return script(dist, "hvctl", env, args);
    }

    /** Runs {@code bin/<name>} of {@code dist} with this JVM's JDK (unless {@code env} says otherwise). */
    private static Run script(Path dist, String name, Map<String, String> env, String... args) throws Exception {
        return run(dist.resolve("bin").resolve(name), env, args);
    }

    private static Run run(Path executable, Map<String, String> env, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(executable.toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().keySet().removeIf(k -> k.startsWith("HVSPI_") || k.startsWith("HVCTL_"));
        pb.environment().put("HVSPI_JAVA_HOME", System.getProperty("java.home"));
        pb.environment().put("HVSPI_RUNTIME_DIR", tmp.resolve("run").toString());
        pb.environment().putAll(env);
        Process p = pb.start();
        p.getOutputStream().close();
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p, true));
        String out = read(p, false);
        assertTrue(p.waitFor(2, TimeUnit.MINUTES), "hvctl did not exit: " + command);
        return new Run(p.exitValue(), out, err.get());
    }

    private static String read(Process p, boolean stderr) {
        try {
            return new String((stderr ? p.getErrorStream() : p.getInputStream()).readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static boolean aotCapable() {
        return Runtime.version().feature() >= 25;
    }

    /** HVCTL_JAVA_OPTS is split at blanks but never globbed: a '*' reaches the JVM as written. */
    @Test
    void javaOptionsAreNotExpandedAsFileNames() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("glob"));
        Files.writeString(dir.resolve("log1.txt"), "");
        Run r = hvctl(HvctlRunner.home(), Map.of("HVCTL_JAVA_OPTS", "-Xlog:class+load:file=" + dir + "/log*.txt"),
                "--version");
        assertEquals(0, r.exit(), r.err());
        assertTrue(Files.size(dir.resolve("log*.txt")) > 0, "the JVM logged to the file named with the '*'");
        assertEquals(0, Files.size(dir.resolve("log1.txt")), "the '*' was not expanded to a file that matches it");
    }

    @Test
    void theBuildTrainsACacheStampedWithItsJdk() throws Exception {
        Path lib = HvctlRunner.home().resolve("lib");
        if (!aotCapable()) {
            assertFalse(Files.exists(lib.resolve("hvctl.aot")), "a JDK before 25 makes no cache");
            return;
        }
        assertTrue(Files.size(lib.resolve("hvctl.aot")) > 1_000_000);
        List<String> stamp = Files.readAllLines(lib.resolve("hvctl.aot.jdk"));
        assertEquals(List.of("java.home=" + System.getProperty("java.home") + " java.runtime.version="
                + System.getProperty("java.runtime.version"), cksum(lib.resolve("hvctl.aot")), jarsCksum(lib)), stamp);
    }

    /** POSIX cksum of a file, as {@code cksum <file} prints it: CRC and length. */
    private static String cksum(Path file) throws Exception {
        return cksum(List.of(file));
    }

    /** POSIX cksum of a directory's jars one after another, in name order. */
    private static String jarsCksum(Path dir) throws Exception {
        try (Stream<Path> files = Files.list(dir)) {
            return cksum(files.filter(f -> f.getFileName().toString().endsWith(".jar")).sorted().toList());
        }
    }

    private static String cksum(List<Path> files) throws Exception {
        Path joined = Files.createTempFile(tmp, "cksum", ".in");
        try (var out = Files.newOutputStream(joined)) {
            for (Path f : files) {
                Files.copy(f, out);
            }
        }
        Process p = new ProcessBuilder("cksum").redirectInput(joined.toFile()).start();
        String sum = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertEquals(0, p.waitFor());
        Files.delete(joined);
        return sum;
    }

    @Test
    void aCopyThatDidNotKeepItsTimesKeepsItsCache() throws Exception {
        assumeTrue(aotCapable(), "AOT caches need JDK 25");
        // as after cp -r: every file new, the cache written after its stamp
        Path copied = HvctlRunner.copyTree(HvctlRunner.home(), tmp.resolve("copied-without-times"), false);
        Path cache = copied.resolve("lib/hvctl.aot");
        Path stamp = copied.resolve("lib/hvctl.aot.jdk");
        Files.setLastModifiedTime(stamp, java.nio.file.attribute.FileTime.fromMillis(
                Files.getLastModifiedTime(cache).toMillis() - 2000));
        assertEquals(FROM_THE_CACHE, mainClassSource(copied));
        // its checksum matched once: the stamp was touched, so later starts need no checksum
        assertFalse(Files.getLastModifiedTime(cache).compareTo(Files.getLastModifiedTime(stamp)) > 0);
        // the same copy with one byte of the cache changed since: never mapped
        try (var ch = java.nio.channels.FileChannel.open(cache, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[] {0x5a}), Files.size(cache) / 2);
        }
        Files.setLastModifiedTime(cache, java.nio.file.attribute.FileTime.fromMillis(
                Files.getLastModifiedTime(stamp).toMillis() + 2000));
        assertTrue(mainClassSource(copied).startsWith("file:"));
    }

    /**
     * After a JDK update the build's cache goes unused (its stamp names the JDK before);
     * bin/hvctl-aot trains it again for the JDK that runs now. Two at once take turns, clear what
     * a killed run left and leave a matching pair; --remove takes both away; a JDK before 25 is refused, lib/ unchanged.
     */
    @Test
    void hvctlAotTrainsTheCacheAgainForTheJdkThatRunsNow() throws Exception {
        assumeTrue(aotCapable(), "AOT caches need JDK 25");
        Path updated = HvctlRunner.copyTree(copy, tmp.resolve("jdk-updated"), true);
        Path lib = updated.resolve("lib");
        Path stamp = lib.resolve("hvctl.aot.jdk");
        List<String> built = Files.readAllLines(stamp);
        List<String> older = new ArrayList<>(built);
        older.set(0, "java.home=" + System.getProperty("java.home") + " java.runtime.version=25.0.0+1-LTS");
        Files.write(stamp, older);
        assertTrue(mainClassSource(updated).startsWith("file:"), "the stamp names another JDK");

        Path jdk21 = fakeJdk("jdk-21-for-aot", "21.0.5", "21.0.5+11");
        Run refused = script(updated, "hvctl-aot", Map.of("HVSPI_JAVA_HOME", jdk21.toString()));
        assertEquals(1, refused.exit());
        assertEquals(jdk21 + " is Java 21; an AOT cache needs 25 or newer", refused.err().strip()
                .replaceFirst("^hvctl-aot: ", ""));
        assertEquals(older, Files.readAllLines(stamp));

        Files.writeString(lib.resolve(".hvctl.aot.12345.config"), ""); // left by a run killed with SIGKILL
        List<CompletableFuture<Run>> two = List.of(
                CompletableFuture.supplyAsync(() -> unchecked(() -> script(updated, "hvctl-aot", Map.of()))),
                CompletableFuture.supplyAsync(() -> unchecked(() -> script(updated, "hvctl-aot", Map.of()))));
        for (CompletableFuture<Run> r : two) {
            assertEquals(0, r.get().exit(), r.get().err());
            assertTrue(r.get().out().contains("AOT cache for java.home=" + System.getProperty("java.home")),
                    r.get().out());
        }
        assertEquals(List.of(built.getFirst(), cksum(lib.resolve("hvctl.aot")), jarsCksum(lib)),
                Files.readAllLines(stamp));
        assertEquals(FROM_THE_CACHE, mainClassSource(updated));
        try (Stream<Path> files = Files.list(lib)) {
            assertEquals(List.of(), files.filter(f -> f.getFileName().toString().startsWith(".")).toList());
        }

        assertEquals(0, script(updated, "hvctl-aot", Map.of(), "--remove").exit());
        assertFalse(Files.exists(lib.resolve("hvctl.aot")) || Files.exists(stamp));
        assertTrue(mainClassSource(updated).startsWith("file:"));
    }

    private interface Call<T> {
        T call() throws Exception;
    }

    private static <T> T unchecked(Call<T> call) {
        try {
            return call.call();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static final String FROM_THE_CACHE = "shared objects file";

    /** Where a {@code --version} of {@code dist} loaded hvctl's main class from: the cache, or {@code file:} a jar. */
    private static String mainClassSource(Path dist) throws Exception {
        Run r = hvctl(dist, Map.of("HVCTL_JAVA_OPTS", "-Xlog:class+load"), "--version");
        assertEquals(0, r.exit(), r.err());
        String marker = "io.hvspi.cli.Hvctl source: ";
        return r.out().lines().filter(l -> l.contains(marker)).findFirst()
                .map(l -> l.substring(l.indexOf(marker) + marker.length()))
                .orElseThrow(() -> new AssertionError("no load of io.hvspi.cli.Hvctl in: " + r.out()));
    }

    /**
     * The checkout's ./hvctl trains the cache again when the JDK that runs hvctl is not the one
     * that made it (a JDK update), once, and keeps the command's output its own. The stand-in for
     * an updated JDK is this JDK reached through a link: the stamp names a JDK by its path.
     */
    /**
     * A checkout of what ./hvctl reads, its distribution built after every source file, in
     * {@code tmp/name}; mvn and QEMU in {@link #stubs()} are stubs that fail, so nothing is built.
     */
    private static Path checkout(String name) throws IOException {
        Path repo = HvctlRunner.home().getParent().getParent().getParent();
        Path checkout = tmp.resolve(name);
        Path dist = HvctlRunner.copyTree(copy, checkout.resolve("cli/target/hvctl"), true);
        Files.createDirectories(checkout.resolve("cli/src/dist/bin"));
        Files.copy(repo.resolve("hvctl"), checkout.resolve("hvctl"), StandardCopyOption.COPY_ATTRIBUTES);
        Files.copy(repo.resolve("cli/src/dist/bin/find-java"), checkout.resolve("cli/src/dist/bin/find-java"),
                StandardCopyOption.COPY_ATTRIBUTES);
        Files.writeString(dist.resolve(".built"), "");
        return checkout;
    }

    private static Path stubs() throws IOException {
        Path stubs = Files.createDirectories(tmp.resolve("stubs"));
        for (String tool : List.of("mvn", "qemu-system-x86_64")) {
            Files.writeString(stubs.resolve(tool), "#!/bin/sh\necho \"$0 should not run\" >&2\nexit 99\n");
            Files.setPosixFilePermissions(stubs.resolve(tool), PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        return stubs;
    }

    @Test
    void theCheckoutLauncherTrainsTheCacheAgainAfterAJdkChange() throws Exception {
        assumeTrue(aotCapable(), "AOT caches need JDK 25");
        Path checkout = checkout("checkout");
        Path dist = checkout.resolve("cli/target/hvctl");
        Path stubs = stubs();
        Path updated = Files.createSymbolicLink(Files.createDirectories(tmp.resolve("jdks")).resolve("updated"),
                Path.of(System.getProperty("java.home")));
        Map<String, String> env = Map.of("PATH", stubs + ":" + System.getenv("PATH"),
                "HVSPI_JAVA_HOME", updated.toString());
        Path stamp = dist.resolve("lib/hvctl.aot.jdk");
        String version = hvctl(copy, Map.of(), "--version").out();

        Run first = run(checkout.resolve("hvctl"), env, "--version");
        assertEquals(0, first.exit(), first.err());
        assertEquals(version, first.out());
        assertEquals("hvctl: training the AOT cache for " + updated + " (the build's was made by another JDK)...",
                first.err().strip());
        assertEquals(List.of("java.home=" + updated + " java.runtime.version=" + System.getProperty("java.runtime.version"),
                cksum(dist.resolve("lib/hvctl.aot")), jarsCksum(dist.resolve("lib"))), Files.readAllLines(stamp));

        java.nio.file.attribute.FileTime trained = Files.getLastModifiedTime(stamp);
        Map<String, String> logged = new java.util.HashMap<>(env);
        logged.put("HVCTL_JAVA_OPTS", "-Xlog:class+load");
        Run second = run(checkout.resolve("hvctl"), logged, "--version");
        assertEquals(0, second.exit(), second.err());
        assertEquals("", second.err());
        assertTrue(second.out().contains("io.hvspi.cli.Hvctl source: " + FROM_THE_CACHE), "the new cache serves it");
        assertEquals(trained, Files.getLastModifiedTime(stamp));
        Run current = script(dist, "hvctl-aot", Map.of("HVSPI_JAVA_HOME", updated.toString()), "--if-jdk-changed");
        assertEquals(new Run(0, "", ""), current); // what a second ./hvctl that found the stamp stale then does
        assertEquals(trained, Files.getLastModifiedTime(stamp));
        assertEquals(2, script(dist, "hvctl-aot", Map.of(), "--if-jdk-changed", "--remove").exit());

        // a JDK without AOT caches, and HVCTL_NO_AOT, leave the cache and its stamp alone
        Path jdk21 = fakeJdk("jdk-21-checkout", "21.0.5", "21.0.5+11");
        Run older = run(checkout.resolve("hvctl"), Map.of("PATH", env.get("PATH"), "HVSPI_JAVA_HOME", jdk21.toString()),
                "--version");
        assertEquals(0, older.exit(), older.err());
        assertEquals("", older.err());
        Run without = run(checkout.resolve("hvctl"), Map.of("PATH", env.get("PATH"), "HVCTL_NO_AOT", "1"), "--version");
        assertEquals(0, without.exit(), without.err());
        assertEquals("", without.err());
        assertEquals(trained, Files.getLastModifiedTime(stamp));

        // a JDK 25 whose training fails: the command still runs, and the next one does not train again
        Path failing = fakeJdk("jdk-25-failing-training", "25.0.9", "25.0.9+1");
        Files.writeString(failing.resolve("bin/java"), "#!/bin/sh\ncase \"$*\" in *AOTCacheOutput*) exit 1 ;; esac\n"
                + "for a in \"$@\"; do echo \"$a\"; done\n");
        Map<String, String> failingEnv = Map.of("PATH", env.get("PATH"), "HVSPI_JAVA_HOME", failing.toString());
        Run failed = run(checkout.resolve("hvctl"), failingEnv, "--version");
        assertEquals(0, failed.exit(), failed.err());
        assertTrue(failed.out().contains("io.hvspi.cli.Hvctl"), failed.out());
        assertTrue(failed.err().strip().endsWith("hvctl: warning: no AOT cache for this JDK; hvctl starts without one"
                + " until the next build"), failed.err());
        assertFalse(Files.exists(stamp) || Files.exists(dist.resolve("lib/hvctl.aot")));
        assertEquals(new Run(0, failed.out(), ""), run(checkout.resolve("hvctl"), failingEnv, "--version"));
    }

    /**
     * The checkout's ./hvctl runs the distribution with a JDK, as it builds it, where the java on
     * PATH is a JRE (Debian 13's maven brings a JRE 21): the JDK's AOT cache then serves it.
     */
    @Test
    void theCheckoutLauncherRunsWithAJdkBeforeAJreOnPath() throws Exception {
        assumeTrue(aotCapable(), "AOT caches need JDK 25");
        Path checkout = checkout("checkout-jre-on-path");
        Path jre = fakeJdk("jre-21-on-path", "21.0.5", "21.0.5+11");
        Path jvms = Files.createDirectories(tmp.resolve("jvm-dir"));
        Files.createSymbolicLink(jvms.resolve("jdk"), Path.of(System.getProperty("java.home")));
        // empty is unset to find-java: no variable names a Java, PATH's comes first
        Map<String, String> env = Map.of("HVSPI_JAVA_HOME", "", "JAVA_HOME", "",
                "PATH", stubs() + ":" + jre.resolve("bin") + ":" + System.getenv("PATH"),
                "HVCTL_JVM_DIR", jvms.toString(), "HVCTL_JAVA_OPTS", "-Xlog:class+load");
        Run r = run(checkout.resolve("hvctl"), env, "--version");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("io.hvspi.cli.Hvctl source: " + FROM_THE_CACHE), r.out());
    }

    @Test
    void aJarReplacedSinceTheBuildStartsWithoutTheCache() throws Exception {
        assumeTrue(aotCapable(), "AOT caches need JDK 25");
        Path patched = HvctlRunner.copyTree(copy, tmp.resolve("patched"), true);
        assertEquals(FROM_THE_CACHE, mainClassSource(patched));
        // the CLI's own jar rebuilt (here: the same classes, one more entry; the JVM would still serve
        // the cache's classes, whatever the jar now holds)
        Path cliJar;
        try (Stream<Path> jars = Files.list(patched.resolve("lib"))) {
            cliJar = jars.filter(j -> j.getFileName().toString().startsWith("hvspi-cli-")).findFirst().orElseThrow();
        }
        try (var fs = java.nio.file.FileSystems.newFileSystem(cliJar)) {
            Files.writeString(fs.getPath("patched.txt"), "a rebuilt jar");
        }
        assertTrue(mainClassSource(patched).startsWith("file:"));
    }

    @Test
    void aStampThatIsNoFileStartsWithoutTheCacheAndAtOnce() throws Exception {
        assumeTrue(aotCapable(), "AOT caches need JDK 25");
        Path odd = HvctlRunner.copyTree(copy, tmp.resolve("odd-stamp"), true);
        Path stamp = odd.resolve("lib/hvctl.aot.jdk");
        // a link to an endless device (the launcher read it for ever before), then a directory
        Files.delete(stamp);
        Files.createSymbolicLink(stamp, Path.of("/dev/zero"));
        assertTrue(mainClassSource(odd).startsWith("file:"));
        Files.delete(stamp);
        Files.createDirectory(stamp);
        assertTrue(mainClassSource(odd).startsWith("file:"));
    }

    @Test
    void theJdkThatMadeTheCacheStartsFromIt() throws Exception {
        assumeTrue(aotCapable(), "AOT caches need JDK 25");
        // class+load names where each class came from: the cache ("shared objects file") or a jar
        Run with = hvctl(HvctlRunner.home(), Map.of("HVCTL_JAVA_OPTS", "-Xlog:class+load"), "--version");
        assertEquals(0, with.exit(), with.err());
        assertTrue(with.out().contains("io.hvspi.cli.Hvctl source: shared objects file"), with.out());
        Run without = hvctl(HvctlRunner.home(), Map.of("HVCTL_JAVA_OPTS", "-Xlog:class+load", "HVCTL_NO_AOT", "1"),
                "--version");
        assertTrue(without.out().contains("io.hvspi.cli.Hvctl source: file:"), without.out());
        // picocli too, whose Java 5 class files the build rewrote (the JVM leaves those out of a cache)
        Run loaded = hvctl(HvctlRunner.home(), Map.of("HVCTL_JAVA_OPTS", "-Xlog:class+load"), "plugins");
        assertTrue(loaded.out().contains("picocli.CommandLine source: shared objects file"), loaded.out());
        assertFalse(loaded.out().contains("source: file:" + HvctlRunner.home().resolve("lib")), loaded.out());
        // and it answers as without it
        Run plugins = hvctl(HvctlRunner.home(), Map.of(), "plugins");
        Run pluginsWithout = hvctl(HvctlRunner.home(), Map.of("HVCTL_NO_AOT", "1"), "plugins");
        assertEquals(pluginsWithout, plugins);
        assertEquals(0, plugins.exit(), plugins.err());
    }

    /**
     * What the start-up figures are measured on (docs/performance.md, ninth round): {@code plugins}
     * defines no annotation proxy class (the JDK generates one per annotation type read, and an AOT
     * cache holds none), and neither {@code --json} nor {@code vm list} builds Jackson's mapper.
     */
    @Test
    void pluginsAndVmListStartWithoutAnnotationProxiesOrAMapper() throws Exception {
        Map<String, String> log = Map.of("HVCTL_JAVA_OPTS", "-Xlog:class+load");
        Run plugins = hvctl(HvctlRunner.home(), log, "plugins");
        assertEquals(0, plugins.exit(), plugins.err());
        // one: PluginGuard's, which puts the plugins' factories behind the host's fault boundary
        assertEquals(1, plugins.out().lines().filter(l -> l.contains("source: __dynamic_proxy__")).count(),
                plugins.out());
        for (List<String> args : List.of(List.of("plugins", "--json"), List.of("vm", "list"),
                List.of("vm", "list", "--json"))) {
            Run r = hvctl(HvctlRunner.home(), log, args.toArray(String[]::new));
            assertEquals(0, r.exit(), args + ": " + r.err());
            assertTrue(r.out().contains("io.hvspi.cli.Hvctl source:"), "the log is on: " + args);
            assertFalse(r.out().contains("com.fasterxml.jackson.databind.ObjectMapper source:"),
                    args + " built the mapper");
        }
    }

    @Test
    void aMovedDistributionKeepsItsCache() throws Exception {
        assumeTrue(aotCapable(), "AOT caches need JDK 25");
        assertEquals(FROM_THE_CACHE, mainClassSource(copy));
    }

    /** A JDK that is none: its release file says what it is, its bin/java prints the arguments it got. */
    private static Path fakeJdk(String name, String version, String runtimeVersion) throws IOException {
        Path home = tmp.resolve("jdks").resolve(name);
        Files.createDirectories(home.resolve("bin"));
        Files.writeString(home.resolve("release"), "IMPLEMENTOR=\"nobody\"\nJAVA_RUNTIME_VERSION=\"" + runtimeVersion
                + "\"\nJAVA_VERSION=\"" + version + "\"\n");
        Path java = home.resolve("bin/java");
        Files.writeString(java, "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\n");
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
        return home;
    }

    private static List<String> javaArguments(Path dist, Path jdk, String... args) throws Exception {
        Run r = hvctl(dist, Map.of("HVSPI_JAVA_HOME", jdk.toString()), args);
        assertEquals(0, r.exit(), r.err());
        assertEquals("", r.err());
        return r.out().lines().toList();
    }

    private static boolean usesCache(List<String> javaArgs) {
        return javaArgs.stream().anyMatch(a -> a.startsWith("-XX:AOTCache="));
    }

    @Test
    void anyOtherJdkStartsWithoutTheCache() throws Exception {
        assumeTrue(Files.exists(copy.resolve("lib/hvctl.aot.jdk")), "no cache (JDK before 25)");
        String stamp = Files.readString(copy.resolve("lib/hvctl.aot.jdk"));
        String jdkLine = stamp.lines().findFirst().orElseThrow();
        String runtimeVersion = jdkLine.substring(jdkLine.indexOf("java.runtime.version=") + "java.runtime.version=".length());
        // JDK 21 and 24 (24 knows -XX:AOTCache but not this cache), and the same version elsewhere
        for (Path jdk : List.of(fakeJdk("jdk-21", "21.0.5", "21.0.5+11"), fakeJdk("jdk-24", "24.0.2", "24.0.2+12"),
                fakeJdk("same-version-elsewhere", Runtime.version().toString(), runtimeVersion))) {
            List<String> args = javaArguments(copy, jdk, "--version");
            assertTrue(args.contains("io.hvspi.cli.Hvctl"), args.toString()); // it did start that JDK
            assertFalse(usesCache(args), jdk + ": " + args);
        }
        // the control: a stamp that names the stand-in gives it the cache, so the checks above can fail
        Path fake = fakeJdk("stamped", "25.0.9", "25.0.9+1");
        Path stampFile = copy.resolve("lib/hvctl.aot.jdk");
        Files.writeString(stampFile, "java.home=" + fake + " java.runtime.version=25.0.9+1\n");  // no checksum
        Path cache = copy.resolve("lib/hvctl.aot");
        java.nio.file.attribute.FileTime built = Files.getLastModifiedTime(cache);
        try {
            assertTrue(usesCache(javaArguments(copy, fake, "--version")));
            assertFalse(usesCache(hvctlWithoutAot(copy, fake)));
            // a cache written after its stamp was changed since the build, unless its checksum is the
            // build's (aCopyThatDidNotKeepItsTimesKeepsItsCache); this stamp has none: never mapped
            Files.setLastModifiedTime(cache, java.nio.file.attribute.FileTime.fromMillis(
                    Files.getLastModifiedTime(stampFile).toMillis() + 2000));
            assertFalse(usesCache(javaArguments(copy, fake, "--version")));
        } finally {
            Files.setLastModifiedTime(cache, built);
            Files.writeString(stampFile, stamp);
        }
    }

    private static List<String> hvctlWithoutAot(Path dist, Path jdk) throws Exception {
        Run r = hvctl(dist, Map.of("HVSPI_JAVA_HOME", jdk.toString(), "HVCTL_NO_AOT", "1"), "--version");
        return r.out().lines().toList();
    }

    @Test
    void aCacheTheJvmRejectsIsSkippedWithoutAWord() throws Exception {
        assumeTrue(aotCapable(), "AOT caches need JDK 25");
        Path broken = HvctlRunner.copyTree(copy, tmp.resolve("broken"), true);
        // a jar newer than the cache (as after copying without times), then a cache that is no cache
        Path picocli;
        try (Stream<Path> jars = Files.list(broken.resolve("lib"))) {
            picocli = jars.filter(j -> j.getFileName().toString().startsWith("picocli-")).findFirst().orElseThrow();
        }
        Files.setLastModifiedTime(picocli, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis()));
        Run expected = hvctl(broken, Map.of("HVCTL_NO_AOT", "1"), "plugins");
        assertEquals(expected, hvctl(broken, Map.of(), "plugins"));
        Files.write(broken.resolve("lib/hvctl.aot"), new byte[4096]);
        assertEquals(expected, hvctl(broken, Map.of(), "plugins"));
        assertEquals("", expected.err());
        // a whole cache whose contents were damaged after its header (a write after the build: a tampered
        // or half-rewritten file): the JVM would map it and abort (exit 134); it is newer than its stamp
        Path cache = broken.resolve("lib/hvctl.aot");
        Files.copy(copy.resolve("lib/hvctl.aot"), cache, StandardCopyOption.REPLACE_EXISTING,
                StandardCopyOption.COPY_ATTRIBUTES);
        Files.setLastModifiedTime(picocli, Files.getLastModifiedTime(copy.resolve("lib").resolve(
                picocli.getFileName())));
        try (var ch = java.nio.channels.FileChannel.open(cache, java.nio.file.StandardOpenOption.WRITE)) {
            byte[] junk = new byte[100_000];
            new java.util.Random(7).nextBytes(junk);
            ch.write(java.nio.ByteBuffer.wrap(junk), 4096);
        }
        assertEquals(hvctl(broken, Map.of("HVCTL_NO_AOT", "1"), "plugins"), hvctl(broken, Map.of(), "plugins"));
    }

    @Test
    void eachCommandGetsItsJit() throws Exception {
        Path jdk = fakeJdk("jit", "21.0.5", "21.0.5+11");
        List<String> c1 = List.of("-XX:TieredStopAtLevel=1");
        List<String> c1Sooner = List.of("-XX:TieredStopAtLevel=1", "-XX:CompileCommand=quiet",
                "-XX:CompileCommand=CompileThresholdScaling,io.hvspi.*::*,0.05");
        for (String command : List.of("plugins", "capabilities", "config", "completion", "help", "--help", "vm")) {
            assertEquals(c1, jitArguments(javaArguments(copy, jdk, command)), command);
        }
        for (String command : List.of("run", "bench", "compat")) {
            assertEquals(c1Sooner, jitArguments(javaArguments(copy, jdk, command)), command);
        }
        assertEquals(List.of(), jitArguments(javaArguments(copy, jdk, "--version")), "--version");
        // hvctl's own options before the command, as Hvctl.commandAlone skips them
        for (List<String> args : List.of(List.of("--debug", "bench", "hotplug"), List.of("--log-level", "info", "bench"),
                List.of("--log-level=debug", "--debug", "run"), List.of("--debug", "--log-level", "warn", "compat"))) {
            assertEquals(c1Sooner, jitArguments(javaArguments(copy, jdk, args.toArray(String[]::new))), args.toString());
        }
        for (List<String> args : List.of(List.of("--debug", "plugins"), List.of("--log-level", "bench", "vm"),
                List.of("--debug"))) { // the value of --log-level is no command; --debug alone is `hvctl` alone
            assertEquals(c1, jitArguments(javaArguments(copy, jdk, args.toArray(String[]::new))), args.toString());
        }
        for (String command : List.of("run", "plugins")) {
            Run r = hvctl(copy, Map.of("HVSPI_JAVA_HOME", jdk.toString(), "HVCTL_JIT", "default"), command);
            assertEquals(List.of(), jitArguments(r.out().lines().toList()), "HVCTL_JIT=default " + command);
        }
    }

    private static List<String> jitArguments(List<String> javaArgs) {
        return javaArgs.stream().filter(a -> a.startsWith("-XX:TieredStopAtLevel") || a.startsWith("-XX:Compile"))
                .toList();
    }

    /**
     * With no variable naming a Java, bin/hvctl and bin/hvctl-aot take the JDK that made the AOT cache
     * (its stamp's java.home) before the java on PATH: on Debian 13 maven's JRE 21 comes first on PATH,
     * and bin/hvctl then never used the cache, nor could hvctl-aot train one ("Java 21").
     */
    @Test
    void withNoVariableTheCachesJdkComesBeforeAJreOnPath() throws Exception {
        assumeTrue(aotCapable(), "AOT caches need JDK 25");
        Path jre = fakeJdk("jre-21-first-on-path", "21.0.5", "21.0.5+11");
        Map<String, String> env = new java.util.HashMap<>(Map.of("HVSPI_JAVA_HOME", "", "JAVA_HOME", "",
                "PATH", jre.resolve("bin") + ":" + System.getenv("PATH"),
                "HVCTL_JVM_DIR", Files.createDirectories(tmp.resolve("no-jvms")).toString()));
        assertEquals(new Run(0, "", ""), script(copy, "hvctl-aot", env, "--if-jdk-changed"));
        env.put("HVCTL_JAVA_OPTS", "-Xlog:class+load");
        Run r = hvctl(copy, env, "--version");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("io.hvspi.cli.Hvctl source: " + FROM_THE_CACHE), r.out());
        // the stamped JDK gone: PATH's java, as before (the stand-in prints its arguments)
        Path moved = HvctlRunner.copyTree(copy, tmp.resolve("stamped-jdk-gone"), true);
        Path stamp = moved.resolve("lib/hvctl.aot.jdk");
        List<String> lines = new ArrayList<>(Files.readAllLines(stamp));
        lines.set(0, "java.home=" + tmp.resolve("no-such-jdk") + " java.runtime.version=25.0.0+1");
        Files.write(stamp, lines);
        Run onPath = hvctl(moved, env, "--version");
        assertEquals(0, onPath.exit(), onPath.err());
        assertTrue(onPath.out().lines().anyMatch("io.hvspi.cli.Hvctl"::equals), onPath.out());
    }

    private static java.nio.file.attribute.FileTime ago(int seconds) {
        return java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() - seconds * 1000L);
    }

    /** A mvn stand-in that records each run, takes two seconds, and touches $HVCTL_TEST_EDIT if set. */
    private static Path recordingMvn() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("recording-mvn"));
        Files.writeString(dir.resolve("mvn"), "#!/bin/sh\necho \"build $$\" >>\"$HVCTL_TEST_BUILDS\"\nsleep 2\n"
                + "[ -z \"$HVCTL_TEST_EDIT\" ] || touch \"$HVCTL_TEST_EDIT\"\nexit 0\n");
        Files.setPosixFilePermissions(dir.resolve("mvn"), PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.copy(stubs().resolve("qemu-system-x86_64"), dir.resolve("qemu-system-x86_64"),
                StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.COPY_ATTRIBUTES);
        return dir;
    }

    /**
     * Two ./hvctl on a stale checkout build once (the second waits for the first, then finds the tree
     * built); a source edited while Maven runs leaves the tree stale, so the next run builds again.
     */
    @Test
    void theCheckoutLauncherBuildsOnceAtATimeAndMissesNoEdit() throws Exception {
        Path checkout = checkout("checkout-stale");
        Path source = Files.createDirectories(checkout.resolve("cli/src/main/java")).resolve("Edited.java");
        Path builds = tmp.resolve("builds.log");
        Path built = checkout.resolve("cli/target/hvctl/.built");
        Files.writeString(source, "class Edited {}\n");
        Files.setLastModifiedTime(built, ago(60));
        Files.setLastModifiedTime(source, ago(30)); // edited since the last build
        Map<String, String> env = Map.of("PATH", recordingMvn() + ":" + System.getenv("PATH"),
                "HVCTL_TEST_BUILDS", builds.toString());
        List<CompletableFuture<Run>> two = List.of(
                CompletableFuture.supplyAsync(() -> unchecked(() -> run(checkout.resolve("hvctl"), env, "--version"))),
                CompletableFuture.supplyAsync(() -> unchecked(() -> run(checkout.resolve("hvctl"), env, "--version"))));
        for (CompletableFuture<Run> r : two) {
            assertEquals(0, r.get().exit(), r.get().err());
        }
        assertEquals(1, Files.readAllLines(builds).size(), "one build for two runs");
        assertEquals(new Run(0, two.getFirst().get().out(), ""), run(checkout.resolve("hvctl"), env, "--version"));
        assertEquals(1, Files.readAllLines(builds).size(), "built: no build");

        // stale again, and a source edited while Maven runs (its time after the build began)
        Files.setLastModifiedTime(built, ago(60));
        Map<String, String> editing = new java.util.HashMap<>(env);
        editing.put("HVCTL_TEST_EDIT", source.toString());
        assertEquals(0, run(checkout.resolve("hvctl"), editing, "--version").exit());
        assertEquals(2, Files.readAllLines(builds).size());
        assertEquals(0, run(checkout.resolve("hvctl"), env, "--version").exit());
        assertEquals(3, Files.readAllLines(builds).size(), "the source edited during the build is built again");
        assertEquals(0, run(checkout.resolve("hvctl"), env, "--version").exit());
        assertEquals(3, Files.readAllLines(builds).size());
    }
}
