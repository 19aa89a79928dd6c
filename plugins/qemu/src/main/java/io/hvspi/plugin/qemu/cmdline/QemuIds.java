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
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT, "invalid " + what + " id '" + id
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
}
