package io.hvspi.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link TestGuest} around a stand-in builder script: results, errors, QEMU arguments. */
class TestGuestTest {

    @Test
    void missingPackagesReportedByTheScriptBecomeAOneLineError(@TempDir Path repo) throws IOException {
        script(repo, """
                echo 'build-guest: error: missing Debian packages: fio (install them: apt-get install -y fio)' >&2
                exit 2
                """);
        GuestException e = assertThrows(GuestException.class, () -> TestGuest.build(repo, repo.resolve("cache")));
        assertEquals("cannot build the test guest: missing Debian packages: fio (install them: apt-get install -y fio)",
                e.getMessage());
    }

    @Test
    void coldCacheIsBuiltAndItsPathsReturned(@TempDir Path repo) throws IOException {
        // Stands in for the real script: stale on --check, then "builds".
        script(repo, """
                if [ "$1" = --check ]; then echo 'build-guest: stale' >&2; exit 1; fi
                echo 'build-guest: building' >&2
                echo "kernel=$1/vmlinuz"; echo "initrd=$1/initrd.img"; echo kernel-version=6.1.0-99-amd64
                """);
        Path cache = repo.resolve("cache");
        TestGuest guest = TestGuest.build(repo, cache);
        assertEquals(new TestGuest(cache.resolve("vmlinuz"), cache.resolve("initrd.img"), "6.1.0-99-amd64"), guest);
    }

    @Test
    void failedBuildNamesTheCacheAndTheScriptsError(@TempDir Path repo) throws IOException {
        script(repo, """
                if [ "$1" = --check ]; then exit 1; fi
                echo 'build-guest: error: apt-get download linux-image-6.1.0-99-amd64=6.1.999-1 failed' >&2
                exit 3
                """);
        GuestException e = assertThrows(GuestException.class, () -> TestGuest.build(repo, repo.resolve("cache")));
        assertEquals("building the test guest in " + repo.resolve("cache")
                + " failed: apt-get download linux-image-6.1.0-99-amd64=6.1.999-1 failed", e.getMessage());
    }

    @Test
    void qemuArgumentsBootTheGuestWithItsConsoleOnASocketServer() {
        TestGuest guest = new TestGuest(Path.of("/c/vmlinuz"), Path.of("/c/initrd.img"), "6.1.0-56-amd64");
        assertEquals(List.of("-kernel", "/c/vmlinuz", "-initrd", "/c/initrd.img",
                        "-append", "console=ttyS0 panic=-1 quiet",
                        "-chardev", "socket,id=hvspi-console,path=/run/a,,b/console.sock,server=on,wait=off",
                        "-serial", "chardev:hvspi-console"),
                guest.qemuArgs(Path.of("/run/a,b/console.sock")));
    }

    @Test
    void repositoryRootHoldsTheBuilderScript() {
        assertTrue(Files.isRegularFile(TestGuest.repoRoot().resolve(TestGuest.SCRIPT)));
    }

    private static void script(Path repo, String body) throws IOException {
        Path script = repo.resolve(TestGuest.SCRIPT);
        Files.createDirectories(script.getParent());
        Files.writeString(script, "#!/bin/bash\n" + body);
    }
}
