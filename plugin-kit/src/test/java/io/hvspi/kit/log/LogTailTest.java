package io.hvspi.kit.log;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LogTailTest {
    @TempDir
    Path dir;

    @Test
    void theLastNonBlankLinesOldestFirst() throws IOException {
        Path log = Files.writeString(dir.resolve("vmm.log"), "one\n\ntwo  \n   \nthree\n\n");
        assertEquals(List.of("two", "three"), LogTail.lastLines(log, 2));
        assertEquals(List.of("one", "two", "three"), LogTail.lastLines(log, 10));
        assertEquals("three", LogTail.lastLine(log));
    }

    /** Only the end is read: the line cut by the start of that window is left out, not quoted in half. */
    @Test
    void aLongLogIsReadFromItsEnd() throws IOException {
        Path log = dir.resolve("vmm.log");
        StringBuilder text = new StringBuilder();
        for (int i = 0; text.length() < 3 * LogTail.MAX_BYTES; i++) {
            text.append("line ").append(i).append(" of a chatty VMM\n");
        }
        text.append("qemu-system-x86_64: the error\n");
        Files.writeString(log, text);
        List<String> all = LogTail.lastLines(log, Integer.MAX_VALUE);
        assertEquals("qemu-system-x86_64: the error", all.getLast());
        List<String> expected = text.toString().lines().toList();
        assertEquals(expected.subList(expected.size() - all.size(), expected.size()), all);
        int inWindow = text.substring(text.length() - LogTail.MAX_BYTES).split("\n", -1).length - 1;
        assertEquals(inWindow - 1, all.size()); // every whole line of the window, not the one it cut
    }

    @Test
    void bytesThatAreNotUtf8AreReplacedNotALostLine() throws IOException {
        Path log = dir.resolve("vmm.log");
        Files.write(log, new byte[] {'b', 'a', 'd', ' ', (byte) 0xff, ' ', 'b', 'y', 't', 'e', '\n'});
        assertEquals("bad \uFFFD byte", LogTail.lastLine(log));
    }

    @Test
    void noLogNoLines() {
        assertEquals(List.of(), LogTail.lastLines(dir.resolve("absent.log"), 10));
        assertEquals("", LogTail.lastLine(dir.resolve("absent.log")));
        assertEquals(List.of(), LogTail.lastLines(dir, 10)); // a directory
    }

    /** A log replaced by a pipe or a link (the runtime directory tampered with) is not read: nothing waits on it. */
    @Test
    @org.junit.jupiter.api.Timeout(value = 20, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
    void aLogThatIsNoRegularFileIsNotRead() throws Exception {
        Path fifo = dir.resolve("fifo.log");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        assertEquals(List.of(), LogTail.lastLines(fifo, 10));
        Path secret = Files.writeString(dir.resolve("elsewhere"), "not the VMM's\n");
        assertEquals(List.of(), LogTail.lastLines(Files.createSymbolicLink(dir.resolve("link.log"), secret), 10));
    }

    @Test
    void anEmptyLogHasNoLines() throws IOException {
        assertEquals(List.of(), LogTail.lastLines(Files.createFile(dir.resolve("vmm.log")), 3));
    }
}
