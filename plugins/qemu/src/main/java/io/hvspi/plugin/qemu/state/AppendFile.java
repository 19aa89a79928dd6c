package io.hvspi.plugin.qemu.state;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Objects;

/**
 * A file that a VM's session appends whole lines to (its intent log, its event journal),
 * kept open between appends: opening and closing the file for every line was most of an
 * attach's cost after its QMP commands. Each line is one {@code write} on an
 * {@code O_APPEND} descriptor, so lines from other processes never interleave with it,
 * and a file emptied in place by another process is appended to from its new end.
 *
 * <p>The file is never created here (a removed runtime directory stays removed) nor
 * reached through a link, and must be a regular file: opening a FIFO put in its place
 * would block until someone reads it. The stream is the JDK's file stream, which an interrupt does
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

    /**
     * Refuses anything but a regular file, not through a link: opening a FIFO for reading or
     * writing blocks until the other end is opened, so a FIFO put in place of one of a VM's
     * files (its runtime directory is 0700: by its owner) would hang whoever opened it.
     */
    public static void requireRegularFile(Path file) throws IOException {
        BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!a.isRegularFile()) {
            throw new IOException(file + " is " + (a.isSymbolicLink() ? "a symbolic link" : "not a regular file"));
        }
    }

    private OutputStream open() throws IOException {
        requireRegularFile(file);
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
