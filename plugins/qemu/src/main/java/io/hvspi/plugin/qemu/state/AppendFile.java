package io.hvspi.plugin.qemu.state;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;

/**
 * A file that a VM's session appends whole lines to (its intent log, its event journal),
 * kept open between appends: opening and closing the file for every line was most of an
 * attach's cost after its QMP commands. Each line is one {@code write} on an
 * {@code O_APPEND} descriptor, so lines from other processes never interleave with it,
 * and a file emptied in place by another process is appended to from its new end.
 *
 * <p>The file is never created here (a removed runtime directory stays removed) nor
 * reached through a link. The stream is the JDK's file stream, which an interrupt does
 * not close: an interrupted caller still writes its line. After {@link #close()} each
 * append opens and closes the file itself, as a late event of a closed session does.
 * Thread-safe.
 */
public final class AppendFile implements AutoCloseable {
    private final Path file;
    private OutputStream out;
    private boolean closed;

    public AppendFile(Path file) {
        this.file = Objects.requireNonNull(file, "file");
    }

    public Path path() {
        return file;
    }

    /** Appends {@code line} (its newline included) in one write; a failure leaves the file to be opened afresh. */
    public synchronized void append(byte[] line) throws IOException {
        if (closed) {
            try (OutputStream once = open()) {
                once.write(line);
            }
            return;
        }
        if (out == null) {
            out = open();
        }
        try {
            out.write(line);
        } catch (IOException e) {
            closeStream();
            throw e;
        }
    }

    @Override
    public synchronized void close() {
        closed = true;
        closeStream();
    }

    private OutputStream open() throws IOException {
        return Files.newOutputStream(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND,
                LinkOption.NOFOLLOW_LINKS);
    }

    private void closeStream() {
        if (out != null) {
            try {
                out.close();
            } catch (IOException e) {
                // nothing is buffered: every line was written whole or reported
            }
            out = null;
        }
    }
}
