package io.hvspi.kit.log;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * The last lines of a VMM's log, for error messages ("QEMU exited during start: ..."). Read
 * from the log's last {@link #MAX_BYTES}, so that a chatty VMM's log of gigabytes costs no
 * more than a quiet one's; bytes that are not UTF-8 are replaced, so that a stray byte
 * does not leave the error with nothing to quote.
 */
public final class LogTail {
    /** How much of the log's end is read: many times the ten lines an error quotes. */
    public static final int MAX_BYTES = 64 * 1024;

    private LogTail() {
    }

    /**
     * The last {@code count} non-blank lines of {@code log}, oldest first, trailing blanks
     * stripped; empty when it has none, is gone, is not a regular file or cannot be read.
     */
    public static List<String> lastLines(Path log, int count) {
        if (!Files.isRegularFile(log, LinkOption.NOFOLLOW_LINKS)) {
            return List.of(); // a pipe put in its place would hold the error up; a link may lead anywhere
        }
        byte[] tail;
        long start;
        try (SeekableByteChannel in = Files.newByteChannel(log)) {
            long size = in.size();
            start = Math.max(0, size - MAX_BYTES);
            in.position(start);
            ByteBuffer buffer = ByteBuffer.allocate((int) (size - start));
            // to the end of the file or of the buffer (the log may have been cut meanwhile)
            int read = 0;
            while (buffer.hasRemaining() && read >= 0) {
                read = in.read(buffer);
            }
            tail = Arrays.copyOf(buffer.array(), buffer.position());
        } catch (IOException e) {
            return List.of();
        }
        List<String> lines = new String(tail, StandardCharsets.UTF_8).lines().toList();
        if (start > 0 && !lines.isEmpty()) {
            lines = lines.subList(1, lines.size()); // the window may begin mid-line: its first is left out
        }
        List<String> kept = lines.stream().filter(l -> !l.isBlank()).map(String::stripTrailing).toList();
        return kept.subList(Math.max(0, kept.size() - count), kept.size());
    }

    /** The last non-blank line of {@code log}, stripped, or {@code ""} when it has none. */
    public static String lastLine(Path log) {
        List<String> last = lastLines(log, 1);
        return last.isEmpty() ? "" : last.getFirst().strip();
    }
}
