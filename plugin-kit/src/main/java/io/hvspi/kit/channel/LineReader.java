package io.hvspi.kit.channel;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.util.Arrays;

/**
 * Splits a byte stream into newline-terminated lines, refusing a line longer
 * than a cap, so that a peer that never sends a newline cannot make us buffer
 * without bound.
 */
final class LineReader {

    /** Thrown when a line exceeds the cap; the stream cannot be resynchronised after it. */
    static final class LineTooLongException extends IOException {
        private static final long serialVersionUID = 1L;

        LineTooLongException(int cap) {
            super("a message longer than " + cap + " bytes");
        }
    }

    private final ReadableByteChannel in;
    private final int maxLineBytes;
    private final ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
    private byte[] line = new byte[4096];
    private int lineLen;

    LineReader(ReadableByteChannel in, int maxLineBytes) {
        this.in = in;
        this.maxLineBytes = maxLineBytes;
        buf.flip();
    }

    /** What {@link #readLine} returns when the source had nothing to read yet (its read returned 0). */
    static final byte[] NO_LINE = new byte[0];

    /**
     * The next line without its terminator ({@code \n}, and a {@code \r} before it),
     * or null at end of stream. Bytes after the last newline at end of stream are
     * a truncated message and are reported as such. {@link #NO_LINE} when the source
     * returned no bytes (nothing arrived in time): call again.
     */
    byte[] readLine() throws IOException {
        while (true) {
            while (buf.hasRemaining()) {
                byte b = buf.get();
                if (b == '\n') {
                    int len = lineLen > 0 && line[lineLen - 1] == '\r' ? lineLen - 1 : lineLen;
                    byte[] out = Arrays.copyOf(line, len);
                    lineLen = 0;
                    return out;
                }
                if (lineLen == maxLineBytes) {
                    throw new LineTooLongException(maxLineBytes);
                }
                if (lineLen == line.length) {
                    line = Arrays.copyOf(line, Math.min(maxLineBytes, line.length * 2));
                }
                line[lineLen++] = b;
            }
            buf.clear();
            int n = in.read(buf);
            buf.flip();
            if (n == 0) {
                return NO_LINE;
            }
            if (n < 0) {
                if (lineLen > 0) {
                    throw new IOException("connection closed in the middle of a message (" + lineLen + " bytes)");
                }
                return null;
            }
        }
    }
}
