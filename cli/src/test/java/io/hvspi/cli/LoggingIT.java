package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * --log-level and --debug in the installed launcher, one JVM per run (slf4j-simple takes its levels
 * once per process). A plugins directory with one good and one broken jar makes hvspi warn (the
 * skipped jar) and pf4j chatter (plugin resolved): the two kinds of lines the levels govern.
 */
class LoggingIT {
    @TempDir
    Path tmp;

    Path plugins;

    @BeforeEach
    void aGoodAndABrokenJar() throws Exception {
        plugins = Files.createDirectory(tmp.resolve("plugins"));
        Path qemuJar = HvctlRunner.home().resolve("plugins/hvspi-plugin-qemu-1.0.0.jar");
        Files.copy(qemuJar, plugins.resolve(qemuJar.getFileName()));
        Files.writeString(plugins.resolve("broken.jar"), "not a jar");
    }

    private HvctlRunner.Result plugins(String... flags) throws Exception {
        String[] args = new String[flags.length + 3];
        System.arraycopy(flags, 0, args, 0, flags.length);
        System.arraycopy(new String[] {"plugins", "--plugins-dir", plugins.toString()}, 0, args, flags.length, 3);
        HvctlRunner.Result r = HvctlProcess.run(args);
        assertEquals(0, r.exit(), r::toString);
        return r;
    }

    @Test
    void byDefaultHvspiWarnsAndLibrariesAreSilent() throws Exception {
        HvctlRunner.Result r = plugins();
        assertEquals(1, r.err().lines().count(), r::toString);
        assertTrue(r.err().startsWith("hvctl: warning: skipping plugin " + plugins.resolve("broken.jar")), r::toString);
    }

    @Test
    void errorLevelSilencesTheWarning() throws Exception {
        assertEquals("", plugins("--log-level", "error").err());
        assertEquals("", plugins("--log-level=off").err());
    }

    @Test
    void infoShowsWhichLoggerSpeaksButNoLibraryChatter() throws Exception {
        HvctlRunner.Result r = plugins("--log-level", "info");
        assertTrue(r.err().contains("hvctl: warning: PluginRegistry - skipping plugin"), r::toString);
        assertFalse(r.err().contains(" INFO "), () -> "pf4j's info lines only at debug: " + r);
    }

    @Test
    void debugLetsTheLibrariesSpeakWithTimeAndThread() throws Exception {
        for (String[] flags : new String[][] {{"--debug"}, {"--log-level", "debug"}}) {
            HvctlRunner.Result r = plugins(flags);
            assertTrue(r.err().lines().anyMatch(l -> l.matches("\\d\\d:\\d\\d:\\d\\d\\.\\d{3} \\[main\\] INFO \\w+ - Plugin 'qemu@1\\.0\\.0' resolved")),
                    r::toString);
        }
    }

    @Test
    void theOptionWorksAfterTheSubcommandToo() throws Exception {
        HvctlRunner.Result r = HvctlProcess.run("plugins", "--plugins-dir", plugins.toString(), "--log-level", "error");
        assertEquals(0, r.exit(), r::toString);
        assertEquals("", r.err());
    }

    @Test
    void anUnknownLevelIsAUsageErrorNamingTheLevels() throws Exception {
        HvctlRunner.Result r = HvctlProcess.run("--log-level", "loud", "plugins");
        assertEquals(ExitCode.USAGE, r.exit(), r::toString);
        assertEquals("hvctl: error: Invalid value for option '--log-level': expected one of off, error, warn, info, debug,"
                + " trace, got 'loud'\nhvctl: hint: see: hvctl --help\n", r.err());
    }

    @Test
    void stackTracesComeWithDebugOnlyNotWithTheLogLevel() throws Exception {
        Path missing = tmp.resolve("missing.toml");
        HvctlRunner.Result level = HvctlProcess.run(tmp, "run", missing.toString(), "--log-level", "debug");
        assertEquals(ExitCode.CONFIG, level.exit(), level::toString);
        assertFalse(level.err().contains("\tat "), level::toString);
        HvctlRunner.Result debug = HvctlProcess.run(tmp, "run", missing.toString(), "--debug");
        assertEquals(ExitCode.CONFIG, debug.exit(), debug::toString);
        assertTrue(debug.err().contains("\tat io.hvspi."), debug::toString);
    }
}
