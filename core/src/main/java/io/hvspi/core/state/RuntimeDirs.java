package io.hvspi.core.state;

import com.sun.security.auth.module.UnixSystem;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.RequestRejectedException;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Private runtime directories: where they live by default, and how they are
 * made (0700, checked names) and checked (a real directory this user owns).
 */
public final class RuntimeDirs {
    /** A VM id is a safe file name and a valid QEMU id: a letter first, then letters, digits, '-', '_', '.'. */
    public static final Pattern VM_ID = Pattern.compile("[A-Za-z][A-Za-z0-9_.-]{0,63}");

    static final Set<PosixFilePermission> DIR_MODE = PosixFilePermissions.fromString("rwx------");
    static final Set<PosixFilePermission> FILE_MODE = PosixFilePermissions.fromString("rw-------");

    private RuntimeDirs() {}

    /**
     * The default runtime root: {@code $HVSPI_RUNTIME_DIR}, else {@code /run/hvspi} for root, else
     * {@code $XDG_RUNTIME_DIR/hvspi}, else {@code /tmp/hvspi-<user>}.
     */
    public static Path defaultRoot() {
        String explicit = System.getenv("HVSPI_RUNTIME_DIR");
        if (explicit != null && !explicit.isBlank()) {
            return Path.of(explicit);
        }
        if ("root".equals(System.getProperty("user.name"))) {
            return Path.of("/run/hvspi");
        }
        String xdg = System.getenv("XDG_RUNTIME_DIR");
        if (xdg != null && !xdg.isBlank()) {
            return Path.of(xdg, "hvspi");
        }
        return Path.of("/tmp", "hvspi-" + System.getProperty("user.name"));
    }

    /** Throws {@link RequestRejectedException} unless {@code vmId} matches {@link #VM_ID}. */
    public static String checkVmId(String vmId) {
        if (vmId == null || !VM_ID.matcher(vmId).matches()) {
            throw new RequestRejectedException(RequestRejectedException.Reason.INVALID_ARGUMENT,
                    "invalid VM id '" + vmId + "': expected a letter, then up to 63 letters, digits, '-', '_' or '.'");
        }
        return vmId;
    }

    /**
     * Removes a directory tree without following symbolic links out of it; no error
     * when it is already gone, or when parts of it go while it runs (another party
     * removing the same tree).
     *
     * @throws HvspiException naming what could not be removed
     */
    public static void deleteTree(Path dir) {
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.deleteIfExists(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
                    if (e instanceof NoSuchFileException) {
                        return FileVisitResult.CONTINUE;
                    }
                    throw e;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                    if (e != null && !(e instanceof NoSuchFileException)) {
                        throw e;
                    }
                    Files.deleteIfExists(d);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw new HvspiException("cannot remove " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Creates {@code dir} and its missing parents with mode 0700, checks it as
     * {@link #checkPrivate} does, and sets its mode to exactly 0700 (a wider
     * one left from before is narrowed). A directory that another user made
     * first (in {@code /tmp}, say), or a symbolic link planted where it should
     * be, is refused rather than used. On an existing private directory this is
     * one {@code lstat}: it runs on every state save.
     *
     * @throws HvspiException when it cannot be created or is not private
     */
    public static Path createPrivate(Path dir) {
        try {
            Map<String, Object> a;
            try {
                a = lstat(dir);
            } catch (NoSuchFileException e) {
                try {
                    Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(DIR_MODE));
                } catch (FileAlreadyExistsException raced) {
                    // a file, or a link to nothing, appeared there: the check below names it
                }
                a = lstat(dir);
            }
            check(dir, a);
            if (((Integer) a.get("mode") & 0777) != 0700) {
                // lstat showed a directory of ours; only we can swap it, in a directory of ours or a sticky /tmp
                Files.setPosixFilePermissions(dir, DIR_MODE);
            }
            return dir;
        } catch (IOException e) {
            throw new HvspiException("cannot create private directory " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * {@link #createPrivate} for the runtime root, which a user may name: an existing one
     * wider than 0700 is narrowed only while it holds nothing but what hvspi makes there
     * (VM directories, {@code .locks}, a simulation's {@code .<id>.sim}), and never when it
     * is sticky. So {@code --runtime-dir /tmp} or {@code /run} is refused instead of being
     * made 0700 under every other program that uses it.
     *
     * @throws HvspiException when it cannot be created, is not private, or is shared
     */
    public static Path createRoot(Path dir) {
        try {
            Map<String, Object> a = lstat(dir);
            check(dir, a);
            int mode = (Integer) a.get("mode");
            if ((mode & 0777) != 0700) {
                Optional<String> foreign;
                try (Stream<Path> entries = Files.list(dir)) {
                    foreign = entries.filter(e -> !isHvspis(e)).map(e -> e.getFileName().toString()).sorted()
                            .findFirst();
                }
                if ((mode & 01000) != 0 || foreign.isPresent()) {
                    throw new HvspiException("refusing runtime root " + dir + ": it is mode "
                            + String.format("%04o", mode & 07777)
                            + foreign.map(n -> " and holds '" + n + "', which hvspi did not make").orElse(" (shared)")
                            + "; hvspi makes only a directory of its own private (0700): give it one, e.g. "
                            + dir.resolve("hvspi"));
                }
            }
        } catch (NoSuchFileException e) {
            // made below, 0700
        } catch (IOException e) {
            throw new HvspiException("cannot check runtime root " + dir + ": " + e.getMessage(), e);
        }
        return createPrivate(dir);
    }

    /**
     * {@link #createRoot} when {@code dir} exists (or is a link or a file, which it refuses); a
     * missing root is left missing, to be made when something is first written there: reading a
     * runtime root that does not exist finds no VM and creates nothing.
     *
     * @throws HvspiException when it exists and is not private, or is shared
     */
    public static Path checkRootIfPresent(Path dir) {
        try {
            lstat(dir);
        } catch (NoSuchFileException e) {
            return dir;
        } catch (IOException e) {
            throw new HvspiException("cannot check runtime root " + dir + ": " + e.getMessage(), e);
        }
        return createRoot(dir);
    }

    /**
     * What hvspi keeps in a runtime root: private directories of its user named as VM ids, its
     * lock directory, simulations ({@code .<id>.sim}).
     */
    private static boolean isHvspis(Path entry) {
        String name = entry.getFileName().toString();
        boolean named = VM_ID.matcher(name).matches() || name.equals(".locks") || (name.startsWith(".")
                && name.endsWith(".sim") && VM_ID.matcher(name.substring(1, name.length() - 4)).matches());
        if (!named) {
            return false;
        }
        try {
            Map<String, Object> a = lstat(entry);
            return (Boolean) a.get("isDirectory") && ((Integer) a.get("mode") & 077) == 0
                    && ((Integer) a.get("uid")) == currentUid();
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Checks, without changing anything, that {@code dir} is a real directory
     * (looked at with {@code lstat}: a symbolic link is refused, not followed)
     * that belongs to this process's user. Returns {@code dir}.
     *
     * @throws HvspiException when it is not
     */
    public static Path checkPrivate(Path dir) {
        try {
            check(dir, lstat(dir));
            return dir;
        } catch (IOException e) {
            throw new HvspiException("cannot check private directory " + dir + ": " + e.getMessage(), e);
        }
    }

    private static Map<String, Object> lstat(Path path) throws IOException {
        return Files.readAttributes(path, "unix:isSymbolicLink,isDirectory,uid,mode", LinkOption.NOFOLLOW_LINKS);
    }

    private static void check(Path dir, Map<String, Object> a) throws IOException {
        if ((Boolean) a.get("isSymbolicLink")) {
            throw notPrivate(dir, "it is a symbolic link to " + Files.readSymbolicLink(dir));
        }
        if (!(Boolean) a.get("isDirectory")) {
            throw notPrivate(dir, "it is not a directory");
        }
        checkOwner(dir, (Integer) a.get("uid"));
    }

    /** Throws unless {@code path} itself (not a link's target) belongs to this process's user. */
    static void checkOwner(Path path) throws IOException {
        checkOwner(path, (Integer) Files.getAttribute(path, "unix:uid", LinkOption.NOFOLLOW_LINKS));
    }

    private static void checkOwner(Path path, int owner) {
        if (owner != currentUid()) {
            throw notPrivate(path, "it belongs to uid " + owner + ", not to this process's user (uid "
                    + currentUid() + ")");
        }
    }

    /** The user id of this process; files it creates belong to it. */
    static long currentUid() {
        return Uid.VALUE;
    }

    /** Looked up once: {@code UnixSystem} also resolves groups and the user name. */
    private static final class Uid {
        static final long VALUE = new UnixSystem().getUid();
    }

    private static HvspiException notPrivate(Path path, String why) {
        return new HvspiException("refusing " + path + " as private runtime state: " + why
                + "; hvspi keeps VM state only in directories and files of its own user, mode 0700 and 0600");
    }
}
