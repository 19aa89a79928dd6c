package io.hvspi.plugin.qemu.cmdline;

import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import java.util.regex.Pattern;

/**
 * QEMU's id grammar (its {@code id_wellformed}): a letter, then letters, digits,
 * {@code -}, {@code .} and {@code _}. Device, object, chardev and block node ids
 * all follow it; block node names are also limited to 31 characters.
 */
public final class QemuIds {
    private static final Pattern ID = Pattern.compile("[A-Za-z][A-Za-z0-9._-]*");

    /** QEMU keeps node names in a 32-byte buffer, terminator included. */
    public static final int MAX_NODE_NAME = 31;
    private static final int MAX_SHOWN = 100;

    private QemuIds() {}

    /** True when QEMU accepts {@code id} as an id. */
    public static boolean isValid(String id) {
        return id != null && ID.matcher(id).matches();
    }

    /**
     * Returns {@code id}, or throws {@link RequestRejectedException} ({@code INVALID_ARGUMENT})
     * naming what it was for.
     */
    public static String check(String id, String what) {
        if (!isValid(id)) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "invalid " + what + " id '" + shown(id)
                    + "': QEMU ids start with a letter, followed by letters, digits, '-', '.' or '_'");
        }
        return id;
    }

    /** {@link #check}, plus QEMU's node-name length limit. */
    public static String checkNodeName(String name) {
        check(name, "block node");
        if (name.length() > MAX_NODE_NAME) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT,
                    "block node name '" + name + "' is longer than " + MAX_NODE_NAME + " characters");
        }
        return name;
    }

    /**
     * An id as an error message may quote it: on one line (control, format and
     * separator characters as Java escapes, a newline as backslash-n), at most 100
     * characters, so that a caller's id cannot forge lines in a log.
     */
    public static String shown(String id) {
        if (id == null) {
            return "null";
        }
        int length = id.codePointCount(0, id.length());
        if (length <= MAX_SHOWN) {
            return printable(id);
        }
        return printable(id.substring(0, id.offsetByCodePoints(0, MAX_SHOWN))) + "... (" + length + " characters)";
    }

    /** {@code text} on one line: control, format and separator characters as Java escapes. */
    public static String printable(String text) {
        StringBuilder b = new StringBuilder(text.length());
        text.codePoints().forEach(c -> {
            switch (Character.getType(c)) {
                case Character.CONTROL, Character.FORMAT, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR,
                     Character.SURROGATE, Character.UNASSIGNED -> b.append(c == '\n' ? "\\n"
                        : String.format("\\u%04X", c));
                default -> b.appendCodePoint(c);
            }
        });
        return b.toString();
    }
}
