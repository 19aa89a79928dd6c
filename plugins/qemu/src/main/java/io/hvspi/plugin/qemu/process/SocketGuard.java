package io.hvspi.plugin.qemu.process;

import com.sun.security.auth.module.UnixSystem;
import io.hvspi.spi.HvspiException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Checks a socket a VM's record names before hvspi connects to it: a record is
 * data, not authority. The socket must sit directly in the record's runtime
 * directory, which must be a real directory (not a symbolic link) of this user
 * with mode 0700; the socket itself must be a socket of this user, not a link.
 *
 * <p>{@link #connect} looks ({@code lstat}) right before connecting and again right
 * after, and refuses the connection when the file changed in between (another
 * device and inode). Swapping the file in that window needs write access to the
 * 0700 directory, that is this user's own rights; the check after the connect
 * catches a swap during it. A hard link to another VM's socket placed by this same
 * user is not detected: that user can already do anything to both VMs.
 */
public final class SocketGuard {
    private static final long UID = new UnixSystem().getUid();

    private SocketGuard() {}

    /**
     * Refuses {@code socket} unless it is a socket of this user directly in {@code runtimeDir},
     * a private directory of this user. Returns the socket's file key (device and inode).
     *
     * @param field the record field that named it, for the error
     * @throws HvspiException one line naming the field
     */
    public static Object check(Path socket, Path runtimeDir, String field) {
        Path s = socket.toAbsolutePath().normalize();
        Path dir = runtimeDir.toAbsolutePath().normalize();
        if (!dir.equals(s.getParent())) {
            throw refused(field, socket, "it is not in the VM's runtime directory " + runtimeDir);
        }
        try {
            Map<String, Object> d = Files.readAttributes(dir, "unix:isSymbolicLink,isDirectory,uid,mode",
                    LinkOption.NOFOLLOW_LINKS);
            if ((Boolean) d.get("isSymbolicLink") || !(Boolean) d.get("isDirectory")) {
                throw refused(field, socket, "its directory " + dir + " is not a real directory");
            }
            if (((Integer) d.get("uid")).longValue() != UID || ((Integer) d.get("mode") & 077) != 0) {
                throw refused(field, socket, "its directory " + dir + " is not private to this user (0700)");
            }
            PosixFileAttributes a = Files.readAttributes(s, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (a.isSymbolicLink()) {
                throw refused(field, socket, "it is a symbolic link to " + Files.readSymbolicLink(s));
            }
            if (!a.isOther()) {
                throw refused(field, socket, "it is not a socket");
            }
            if (((Integer) Files.getAttribute(s, "unix:uid", LinkOption.NOFOLLOW_LINKS)).longValue() != UID) {
                throw refused(field, socket, "it belongs to another user");
            }
            return a.fileKey();
        } catch (NoSuchFileException e) {
            throw refused(field, socket, "it does not exist");
        } catch (IOException e) {
            throw refused(field, socket, "cannot look at it: " + e.getMessage());
        }
    }

    /**
     * Checks the socket, connects with {@code connect}, and checks again that the same
     * file is there; on a mismatch the connection is closed and refused.
     */
    public static <C extends AutoCloseable> C connect(Path socket, Path runtimeDir, String field,
                                                      Supplier<C> connect) {
        Object before = check(socket, runtimeDir, field);
        C c = connect.get();
        Object after;
        try {
            after = check(socket, runtimeDir, field);
        } catch (RuntimeException e) {
            closeQuietly(c);
            throw e;
        }
        if (!before.equals(after)) {
            closeQuietly(c);
            throw refused(field, socket, "it was replaced while hvspi connected to it");
        }
        return c;
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            // refusing it anyway
        }
    }

    private static HvspiException refused(String field, Path socket, String why) {
        return new HvspiException("refusing the VM record's " + field + " " + socket + ": " + why);
    }
}
