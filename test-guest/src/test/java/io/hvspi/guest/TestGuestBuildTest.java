package io.hvspi.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** scripts/build-guest.sh through {@link TestGuest}: the real build and its cache stamp. */
@Tag("guest")
class TestGuestBuildTest {
    private final Path repo = TestGuest.repoRoot();
    private final Path cache = TestGuest.defaultCache();

    @Test
    void warmCacheIsReusedWithoutRebuilding() throws IOException {
        TestGuest first = TestGuest.build(repo, cache);
        FileTime initrdTime = Files.getLastModifiedTime(first.initrd());
        FileTime kernelTime = Files.getLastModifiedTime(first.kernel());
        String stamp = Files.readString(cache.resolve("stamp"));

        TestGuest second = TestGuest.build(repo, cache);

        assertEquals(first, second);
        assertEquals(initrdTime, Files.getLastModifiedTime(second.initrd()));
        assertEquals(kernelTime, Files.getLastModifiedTime(second.kernel()));
        assertEquals(stamp, Files.readString(cache.resolve("stamp")));
        assertTrue(TestGuest.isBuilt(repo, cache));
        assertTrue(stamp.contains("kernel-version=" + second.kernelVersion() + "\n"), stamp);
    }

    @Test
    void cacheIsStaleWhenItsStampNoLongerMatchesOrAnOutputIsGone(@TempDir Path copy) throws IOException {
        TestGuest.build(repo, cache);
        // The stamp decides, not the outputs' contents: empty stand-ins will do.
        Files.createFile(copy.resolve("vmlinuz"));
        Files.createFile(copy.resolve("initrd.img"));
        String stamp = Files.readString(cache.resolve("stamp"));
        Files.writeString(copy.resolve("stamp"), stamp);
        assertTrue(TestGuest.isBuilt(repo, copy), "a copy of a warm cache is warm");

        String otherFio = stamp.lines()
                .map(line -> line.startsWith("fio=") ? "fio=0.0-older" : line)
                .collect(Collectors.joining("\n", "", "\n"));
        Files.writeString(copy.resolve("stamp"), otherFio);
        assertFalse(TestGuest.isBuilt(repo, copy), "a stamp naming another fio version is stale");

        Files.writeString(copy.resolve("stamp"), stamp);
        Files.delete(copy.resolve("initrd.img"));
        assertFalse(TestGuest.isBuilt(repo, copy), "a cache without its initramfs is stale");
    }

    @Test
    void checkingAnEmptyCacheBuildsNothing(@TempDir Path empty) {
        assertFalse(TestGuest.isBuilt(repo, empty));
        assertFalse(Files.exists(empty.resolve("initrd.img")));
        assertFalse(Files.exists(empty.resolve("stamp")));
    }
}
