package io.hvspi.core.config;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The rules for a path that an annotation sets: its spelling, and for the
 * guarded keys where it may point.
 *
 * <p>A path must be absolute and in normal form: no empty ({@code //}),
 * {@code .} or {@code ..} component and no trailing {@code /}, so that what a
 * glob matches is the path the VMM will open, and a {@code *} cannot match a
 * component that climbs out. It is at most {@link #PATH_MAX} bytes, each
 * component at most {@link #NAME_MAX}, as Linux allows.
 *
 * <p>A guarded path must match a glob of its {@code valid_*} list as written,
 * and, where it leads through symbolic links, where it really leads must match
 * too: the real path (every link resolved, for the part of the path that
 * exists) must match a glob of the same list, with each glob's leading
 * components that hold no wildcard resolved the same way. An administrator who
 * lists {@code /var/run/kata-containers/vhost-user} where {@code /var/run} links
 * to {@code /run} meant the place, and gets it; a link inside an allowed
 * directory that points out of the list is refused, and so is a link whose
 * target does not exist (it could be created later, anywhere).
 */
final class AnnotationPaths {
    /** Linux's PATH_MAX includes the terminating NUL. */
    static final int PATH_MAX = 4095;
    static final int NAME_MAX = 255;

    private AnnotationPaths() {}

    /** What is wrong with the spelling of {@code value}, if anything. */
    static Optional<String> spellingProblem(String value) {
        if (!value.startsWith("/")) {
            return Optional.of("expected an absolute path, got " + Locator.show(value));
        }
        if (value.getBytes(StandardCharsets.UTF_8).length > PATH_MAX) {
            return Optional.of("expected a path of at most " + PATH_MAX + " bytes, got " + Locator.show(value));
        }
        String[] parts = value.substring(1).split("/", -1);
        for (String part : parts) {
            if (part.equals("..")) {
                return Optional.of("a path with a \"..\" component is refused, got " + Locator.show(value));
            }
        }
        for (int i = 0; i < parts.length; i++) {
            String part = parts[i];
            boolean rootItself = parts.length == 1 && part.isEmpty();
            if (part.equals(".") || (part.isEmpty() && !rootItself)) {
                return Optional.of("expected a path in normal form (no \"//\", no \".\" component, no trailing"
                        + " \"/\"), got " + Locator.show(value));
            }
            if (part.getBytes(StandardCharsets.UTF_8).length > NAME_MAX) {
                return Optional.of("expected path components of at most " + NAME_MAX + " bytes, got "
                        + Locator.show(value));
            }
        }
        return Optional.empty();
    }

    /**
     * What is wrong with {@code value} for the glob list {@code listKey}, if
     * anything; {@code value} is already well spelled.
     */
    static Optional<String> allowListProblem(String value, String listKey, List<String> globs, KataRuntime runtime) {
        if (globs.stream().noneMatch(g -> Glob.compile(g, runtime).matches(value))) {
            return Optional.of(Locator.show(value) + " matches no glob of " + listKey + " "
                    + AnnotationPolicy.quoted(globs));
        }
        Path real;
        try {
            real = realPath(Path.of(value), true);
        } catch (IOException e) {
            String why = e instanceof NoSuchFileException ? e.getMessage() : e.toString();
            return Optional.of(Locator.show(value) + " cannot be resolved to check it against " + listKey + ": "
                    + why);
        }
        if (real.toString().equals(value)) {
            return Optional.empty();
        }
        for (String glob : globs) {
            if (Glob.compile(resolvedGlob(glob), runtime).matches(real.toString())) {
                return Optional.empty();
            }
        }
        return Optional.of(Locator.show(value) + " leads through a symbolic link to "
                + Locator.show(real.toString()) + ", which matches no glob of " + listKey + " "
                + AnnotationPolicy.quoted(globs));
    }

    /**
     * {@code path} with every symbolic link resolved, for its longest part that
     * exists; the rest is appended as written. With {@code strict}, a link that
     * leads nowhere is a {@link NoSuchFileException}.
     */
    static Path realPath(Path path, boolean strict) throws IOException {
        Path existing = path;
        while (existing != null && !Files.exists(existing, LinkOption.NOFOLLOW_LINKS)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            return path;
        }
        if (!Files.exists(existing)) {
            if (strict) {
                throw new NoSuchFileException(existing.toString(), null,
                        "a symbolic link that leads nowhere (its target does not exist, or links loop)");
            }
            return path;
        }
        return existing.toRealPath().resolve(existing.relativize(path));
    }

    /**
     * {@code glob} with its leading wildcard-free components resolved through
     * symbolic links, as far as they exist; a glob that cannot be resolved is
     * kept as written.
     */
    static String resolvedGlob(String glob) {
        if (!glob.startsWith("/")) {
            return glob;
        }
        int end = 0;
        while (end < glob.length()) {
            int next = glob.indexOf('/', end + 1);
            String component = glob.substring(end, next < 0 ? glob.length() : next);
            if (component.chars().anyMatch(c -> c == '*' || c == '?' || c == '[' || c == '\\')) {
                break;
            }
            end = next < 0 ? glob.length() : next;
        }
        if (end == 0) {
            return glob;
        }
        try {
            Path real = realPath(Path.of(glob.substring(0, end)), false);
            return escape(real.toString()) + glob.substring(end);
        } catch (IOException | RuntimeException e) {
            return glob;
        }
    }

    private static String escape(String literal) {
        StringBuilder b = new StringBuilder(literal.length());
        for (char c : literal.toCharArray()) {
            if (c == '*' || c == '?' || c == '[' || c == '\\') {
                b.append('\\');
            }
            b.append(c);
        }
        return b.toString();
    }
}
