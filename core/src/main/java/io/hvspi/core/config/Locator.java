package io.hvspi.core.config;

import io.hvspi.spi.ConfigException;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Turns a key of the selected hypervisor table into a located error or note:
 * {@code file:line:col: hypervisor.qemu.key: ...} for a value from the file, or
 * the annotation's name for a value an annotation set.
 */
record Locator(Path file, String type, Map<String, Origin> origins, KataRuntime runtime) {
    /** Strings longer than this are cut in messages; an annotation value may be megabytes. */
    static final int SHOWN_CHARS = 200;
    private static final Pattern BARE_KEY = Pattern.compile("[A-Za-z0-9_-]+");

    Locator {
        origins = Map.copyOf(origins);
    }

    Origin origin(String key) {
        return origins.getOrDefault(key, Origin.DEFAULT);
    }

    String dotted(String key) {
        return "hypervisor." + tomlKey(type) + "." + tomlKey(key);
    }

    ConfigException error(String key, String problem) {
        Origin o = origin(key);
        if (o.fromAnnotation()) {
            return configError(null, 0, 0, o.annotation(), problem);
        }
        return configError(fileOf(o), o.line(), o.column(), dotted(key), problem);
    }

    /** The file holding a value of this origin: a drop-in's, or the configuration. */
    Path fileOf(Origin o) {
        return o.file() != null ? o.file() : file;
    }

    ConfigNote note(String key, String message) {
        Origin o = origin(key);
        if (o.fromAnnotation()) {
            String text = message + " (set by annotation " + o.annotation() + ")";
            return new ConfigNote(dotted(key), 0, 0, printable(text));
        }
        if (o.file() != null && !o.file().equals(file)) {
            // a note's position is read against the configuration file, so a drop-in's is in the text
            return new ConfigNote(dotted(key), 0, 0, printable(message + " (set in " + o.file() + ":" + o.line()
                    + ":" + o.column() + ")"));
        }
        return new ConfigNote(dotted(key), o.line(), o.column(), printable(message));
    }

    /**
     * Every {@link ConfigException} of this package is made here, so that its
     * message is one printable line whatever the file or a pod's annotation
     * held: control, format and separator characters in the key or the problem
     * are written as TOML escapes (a newline as {@code \n}), never raw, which
     * would let an annotation forge lines in a runtime's log.
     */
    static ConfigException configError(Path file, int line, int column, String key, String problem) {
        return new ConfigException(file, line, column, key == null ? null : printable(key), printable(problem));
    }

    /** A key as TOML spells it in a dotted path: bare when it may be, else quoted. */
    static String tomlKey(String key) {
        return BARE_KEY.matcher(key).matches() ? key : show(key);
    }

    /** A value as TOML would spell it, for "got ..." in messages; a long string is cut. */
    static String show(Object value) {
        if (value instanceof String s) {
            if (s.length() > SHOWN_CHARS) {
                int cut = Character.isHighSurrogate(s.charAt(SHOWN_CHARS - 1)) ? SHOWN_CHARS - 1 : SHOWN_CHARS;
                return show(s.substring(0, cut)) + "... (" + s.length() + " characters)";
            }
            return '"' + printable(s.replace("\\", "\\\\").replace("\"", "\\\"")) + '"';
        }
        if (value instanceof java.util.List<?>) {
            return "an array";
        }
        if (value instanceof Map<?, ?>) {
            return "a table";
        }
        return String.valueOf(value);
    }

    /** {@code s} with every invisible or line-breaking character written as a TOML escape. */
    static String printable(String s) {
        if (s.codePoints().noneMatch(Locator::invisible)) {
            return s;
        }
        StringBuilder b = new StringBuilder(s.length() + 16);
        s.codePoints().forEach(c -> {
            if (!invisible(c)) {
                b.appendCodePoint(c);
                return;
            }
            switch (c) {
                case '\b' -> b.append("\\b");
                case '\t' -> b.append("\\t");
                case '\n' -> b.append("\\n");
                case '\f' -> b.append("\\f");
                case '\r' -> b.append("\\r");
                default -> b.append(c > 0xffff ? String.format("\\U%08x", c) : String.format("\\u%04x", c));
            }
        });
        return b.toString();
    }

    /** Control, format (bidi overrides, zero-width), separator, unpaired surrogate, unassigned or private-use. */
    static boolean invisible(int c) {
        return switch (Character.getType(c)) {
            case Character.CONTROL, Character.FORMAT, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR,
                 Character.SURROGATE, Character.UNASSIGNED, Character.PRIVATE_USE -> true;
            default -> false;
        };
    }
}
