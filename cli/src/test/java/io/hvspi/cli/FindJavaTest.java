package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * find-java, the launchers' search for a Java, on a directory of stand-in JDKs (a release file
 * and a bin/java, and bin/javac for a JDK) in place of /usr/lib/jvm: the highest major version
 * that fits wins, whatever the directories are called; JREs do not count for --jdk.
 */
class FindJavaTest {
    @TempDir
    Path jvms;

    record Found(int exit, String javaHome, String err) {}

    private Found find(String... args) throws IOException, InterruptedException {
        return find(java.util.Map.of(), args);
    }

    private Found find(java.util.Map<String, String> env, String... args) throws IOException, InterruptedException {
        Path script = Path.of("src/dist/bin/find-java").toAbsolutePath();
        ProcessBuilder pb = new ProcessBuilder("/bin/bash", "-c",
                ". \"$0\" && hvctl_find_java \"$@\" && echo \"$HVCTL_JAVA_HOME\"", script.toString());
        pb.command().addAll(List.of(args));
        pb.environment().keySet().removeIf(k -> k.startsWith("HVSPI_") || k.startsWith("HVCTL_") || k.equals("JAVA_HOME"));
        pb.environment().put("PATH", jvms.resolve("no-such-bin").toString()); // no java on PATH
        pb.environment().put("HVCTL_JVM_DIR", jvms.toString());
        pb.environment().putAll(env);
        Path out = jvms.resolve("out");
        Path err = jvms.resolve("err");
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("find-java still runs after 20 s");
        }
        return new Found(p.exitValue(), Files.readString(out).strip(), Files.readString(err).strip());
    }

    private Path java(String name, String version, boolean jdk) throws IOException {
        Path home = Files.createDirectories(jvms.resolve(name).resolve("bin"));
        Files.writeString(home.resolveSibling("release"), "JAVA_VERSION=\"" + version + "\"\n");
        for (String tool : jdk ? List.of("java", "javac") : List.of("java")) {
            Path bin = home.resolve(tool);
            Files.writeString(bin, "#!/bin/sh\n");
            Files.setPosixFilePermissions(bin, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        return home.getParent();
    }

    @Test
    void theHighestMajorVersionWinsWhateverItsName() throws Exception {
        java("java-17-openjdk-amd64", "17.0.13", true);
        Path newest = java("java-25-openjdk-amd64", "25.0.1", true);
        java("temurin-21-jdk-amd64", "21.0.5", true); // the last by name, the first of a name sort -r
        Files.createDirectories(jvms.resolve("not-a-jdk"));
        assertEquals(new Found(0, newest.toString(), ""), find());
        assertEquals(new Found(0, newest.toString(), ""), find("--jdk"));
    }

    @Test
    void aJdkIsNeededToBuildAndAJreWillDoToRun() throws Exception {
        Path jdk = java("java-21-openjdk-amd64", "21.0.5", true);
        Path jre = java("jre-26", "26", false);
        assertEquals(new Found(0, jre.toString(), ""), find());
        assertEquals(new Found(0, jdk.toString(), ""), find("--jdk"));
    }

    @Test
    void aReleaseFileThatIsNoFileIsNotRead() throws Exception {
        Path jdk = java("java-21-openjdk-amd64", "21.0.5", true);
        Path piped = java("jdk-99-piped", "99", true);
        Files.delete(piped.resolve("release"));
        Process mkfifo = new ProcessBuilder("mkfifo", piped.resolve("release").toString()).start();
        assertEquals(0, mkfifo.waitFor());
        assertEquals(new Found(0, jdk.toString(), ""), find("--jdk")); // a pipe nobody writes would hold it forever
    }

    @Test
    void noneThatFitsSaysWhereItLooked() throws Exception {
        java("java-17-openjdk-amd64", "17.0.13", true);
        Path jre = java("java-21-jre", "21.0.5", false);
        Found found = find("--jdk");
        assertEquals(1, found.exit());
        assertEquals(List.of(
                "hvctl: error: no JDK 21 or newer (with javac) found (looked at $HVSPI_JAVA_HOME, $JAVA_HOME, PATH, "
                        + jvms + ")",
                "hvctl: note: " + jre + " is a JRE (no bin/javac); building hvspi needs a JDK",
                "hvctl: hint: install one (e.g. apt-get install openjdk-21-jdk-headless where available) or set"
                        + " HVSPI_JAVA_HOME"), found.err().lines().toList());
    }

    /** A stand-in made by jlink: its release file lists its modules. */
    private Path runtime(String name, String version, String modules) throws IOException {
        Path home = java(name, version, false);
        Files.writeString(home.resolve("release"), "JAVA_VERSION=\"" + version + "\"\nMODULES=\"" + modules + "\"\n");
        return home;
    }

    @Test
    void aRuntimeWithoutTheModulesHvctlNeedsIsSkippedWithANote() throws Exception {
        runtime("jre-25-base", "25", "java.base");
        Path enough = runtime("jre-22-jlinked", "22", "java.base java.logging java.management java.naming"
                + " jdk.security.auth");
        Path full = java("java-21-openjdk-amd64", "21.0.5", false); // no MODULES line: not judged by it
        assertEquals(new Found(0, enough.toString(), ""), find());
        Files.writeString(enough.resolve("release"), "JAVA_VERSION=\"22\"\nMODULES=\"java.base jdk.security.auth\"\n");
        assertEquals(new Found(0, full.toString(), ""), find());
        Files.delete(full.resolve("release"));
        Found none = find();
        assertEquals(1, none.exit(), none.err());
        assertEquals(List.of(
                "hvctl: error: no Java 21 or newer found (looked at $HVSPI_JAVA_HOME, $JAVA_HOME, PATH, " + jvms + ")",
                "hvctl: note: " + jvms.resolve("jre-22-jlinked") + " is a runtime without the module(s)"
                        + " java.management, which hvctl needs (java.base java.management jdk.security.auth)",
                "hvctl: note: " + jvms.resolve("jre-25-base") + " is a runtime without the module(s)"
                        + " java.management jdk.security.auth, which hvctl needs (java.base java.management"
                        + " jdk.security.auth)",
                "hvctl: hint: install one (e.g. apt-get install openjdk-21-jdk-headless where available) or set"
                        + " HVSPI_JAVA_HOME"), none.err().lines().toList());
    }

    @Test
    void anUnusableHvspiJavaHomeIsAnErrorNotPassedOver() throws Exception {
        Path jdk = java("java-25-openjdk-amd64", "25.0.1", true);
        Path old = java("java-17-openjdk-amd64", "17.0.13", true);
        Path base = runtime("jre-25-base", "25", "java.base");
        Path jre = java("jre-21", "21", false);
        String hint = "hvctl: hint: point it at a Java 21 or newer, or unset it to let hvctl find one";
        assertEquals(new Found(1, "", "hvctl: error: HVSPI_JAVA_HOME=" + old + " is not a usable Java 21 or newer:"
                + " it is Java 17; hvctl needs 21 or newer\n" + hint), find(java.util.Map.of("HVSPI_JAVA_HOME", old.toString())));
        assertEquals(new Found(1, "", "hvctl: error: HVSPI_JAVA_HOME=/nonexistent is not a usable Java 21 or newer:"
                + " no such directory\n" + hint), find(java.util.Map.of("HVSPI_JAVA_HOME", "/nonexistent")));
        assertEquals(new Found(1, "", "hvctl: error: HVSPI_JAVA_HOME=" + base + " is not a usable Java 21 or newer:"
                + " a runtime without the module(s) java.management jdk.security.auth, which hvctl needs (java.base"
                + " java.management jdk.security.auth)\n" + hint),
                find(java.util.Map.of("HVSPI_JAVA_HOME", base.toString())));
        // a JRE runs hvctl; the build (--jdk) takes a JDK from elsewhere
        assertEquals(new Found(0, jdk.toString(), ""), find(java.util.Map.of("HVSPI_JAVA_HOME", jre.toString()), "--jdk"));
        assertEquals(new Found(0, jre.toString(), ""), find(java.util.Map.of("HVSPI_JAVA_HOME", jre.toString())));
    }

    /** A distribution's lib/ whose AOT cache stamp names {@code javaHome}, as bin/hvctl-aot writes it. */
    private Path libStampedBy(String javaHome) throws IOException {
        Path lib = Files.createDirectories(jvms.resolve("dist/lib")); // no release file: never a candidate
        Files.writeString(lib.resolve("hvctl.aot.jdk"), "java.home=" + javaHome + " java.runtime.version=25.0.1+8\n"
                + "123 456\n789 1011\n");
        return lib;
    }

    /**
     * With no variable set, the JDK that trained the distribution's AOT cache (--aot-lib: its stamp's
     * java.home) comes before a JRE 21 first on PATH (Debian 13's maven) and before a higher JDK in
     * /usr/lib/jvm, so that bin/hvctl starts from the cache; a stamped JDK that is gone, or a JRE
     * where a JDK is needed, is passed over; a variable still comes first.
     */
    @Test
    void theJdkThatMadeTheAotCacheComesBeforePath() throws Exception {
        Path jre = java("jre-21-on-path", "21.0.5", false);
        Path stamped = java("temurin-25-jdk-amd64", "25.0.1", true);
        Path higher = java("jdk-26", "26", true);
        String path = jre.resolve("bin") + ":/usr/bin:/bin"; // readlink too
        java.util.Map<String, String> jreOnPath = java.util.Map.of("PATH", path);
        Path lib = libStampedBy(stamped.toString());
        assertEquals(new Found(0, jre.toString(), ""), find(jreOnPath)); // without it: PATH's JRE, as before
        assertEquals(new Found(0, stamped.toString(), ""), find(jreOnPath, "--aot-lib", lib.toString()));
        assertEquals(new Found(0, stamped.toString(), ""), find(jreOnPath, "--jdk", "--aot-lib", lib.toString()));
        // a variable names the Java first
        assertEquals(new Found(0, higher.toString(), ""), find(java.util.Map.of("PATH", path,
                "JAVA_HOME", higher.toString()), "--aot-lib", lib.toString()));
        // the stamped JDK removed since: the search goes on as without a stamp
        libStampedBy(jvms.resolve("gone").toString());
        assertEquals(new Found(0, jre.toString(), ""), find(jreOnPath, "--aot-lib", lib.toString()));
        assertEquals(new Found(0, higher.toString(), ""), find(jreOnPath, "--jdk", "--aot-lib", lib.toString()));
        // a stamp naming a JRE serves a run, not a build
        libStampedBy(jre.toString());
        assertEquals(new Found(0, higher.toString(), ""), find(jreOnPath, "--jdk", "--aot-lib", lib.toString()));
        // a stamp that is no regular file is not read; one without a java.home line is ignored
        Files.delete(lib.resolve("hvctl.aot.jdk"));
        Files.createDirectory(lib.resolve("hvctl.aot.jdk"));
        assertEquals(new Found(0, jre.toString(), ""), find(jreOnPath, "--aot-lib", lib.toString()));
        Files.delete(lib.resolve("hvctl.aot.jdk"));
        Files.writeString(lib.resolve("hvctl.aot.jdk"), stamped + "\n");
        assertEquals(new Found(0, jre.toString(), ""), find(jreOnPath, "--aot-lib", lib.toString()));
    }
}
