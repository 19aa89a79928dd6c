package io.hvspi.plugin.qemu.state;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The file a session appends lines to, open between appends. */
class AppendFileTest {
    @TempDir
    Path dir;

    /** How many of this JVM's descriptors are open on {@code file}. */
    private static long descriptorsOn(Path file) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).equals(file);
                } catch (IOException e) {
                    return false; // the listing's own descriptor, closed by now
                }
            }).count();
        }
    }

    private static byte[] line(String text) {
        return (text + "\n").getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void oneDescriptorServesEveryAppendUntilClosed() throws Exception {
        Path file = Files.createFile(dir.resolve("log"));
        try (AppendFile appends = new AppendFile(file)) {
            for (int i = 0; i < 50; i++) {
                appends.append(line("line " + i));
            }
            assertEquals(1, descriptorsOn(file));
            assertEquals(50, Files.readAllLines(file).size());
        }
        assertEquals(0, descriptorsOn(file), "closed with the session");
    }

    @Test
    void aFileEmptiedByAnotherWriterIsAppendedToFromItsNewEnd() throws Exception {
        Path file = Files.createFile(dir.resolve("log"));
        try (AppendFile appends = new AppendFile(file)) {
            appends.append(line("first"));
            Files.write(file, new byte[0], StandardOpenOption.TRUNCATE_EXISTING); // another process compacts
            Files.write(file, line("theirs"), StandardOpenOption.APPEND);
            appends.append(line("ours"));
            assertEquals("theirs\nours\n", Files.readString(file), "no hole, no overwrite");
        }
    }

    @Test
    void anInterruptedCallerStillWritesItsLine() throws Exception {
        Path file = Files.createFile(dir.resolve("log"));
        try (AppendFile appends = new AppendFile(file)) {
            appends.append(line("a"));
            Thread.currentThread().interrupt();
            try {
                appends.append(line("b"));
                appends.append(line("c"));
                assertTrue(Thread.currentThread().isInterrupted(), "the interrupt is kept for the caller");
            } finally {
                Thread.interrupted();
            }
            assertEquals("a\nb\nc\n", Files.readString(file));
        }
    }

    @Test
    void theFileIsNeverCreatedNorReachedThroughALink() throws Exception {
        AppendFile missing = new AppendFile(dir.resolve("missing"));
        assertThrows(NoSuchFileException.class, () -> missing.append(line("x")));
        assertFalse(Files.exists(dir.resolve("missing")));

        Path target = Files.writeString(dir.resolve("target"), "");
        Path link = Files.createSymbolicLink(dir.resolve("link"), target);
        assertThrows(IOException.class, () -> new AppendFile(link).append(line("x")));
        assertEquals("", Files.readString(target));
        assertTrue(Files.isSymbolicLink(link) && Files.exists(link, LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void aFifoInPlaceOfTheFileIsRefusedAtOnceNotWaitedOn() throws Exception {
        Path fifo = dir.resolve("fifo");
        Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).start();
        assertEquals(0, mkfifo.waitFor());
        IOException e = assertTimeoutPreemptively(java.time.Duration.ofSeconds(5),
                () -> assertThrows(IOException.class, () -> new AppendFile(fifo).append(line("x"))));
        assertTrue(e.getMessage().endsWith("is not a regular file"), e.getMessage());
    }

    @Test
    void afterCloseEachAppendOpensTheFileForItsLineAlone() throws Exception {
        Path file = Files.createFile(dir.resolve("log"));
        AppendFile appends = new AppendFile(file);
        appends.append(line("a"));
        appends.close();
        appends.append(line("late"));
        assertEquals("a\nlate\n", Files.readString(file));
        assertEquals(0, descriptorsOn(file));
    }
}
