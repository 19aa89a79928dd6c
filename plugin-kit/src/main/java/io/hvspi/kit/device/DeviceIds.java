package io.hvspi.kit.device;

import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import java.util.regex.Pattern;

/**
 * hvspi's grammar for the ids a caller chooses (devices, IOThreads): a letter,
 * then letters, digits, {@code _ . -}; at most 64. The ids become file names,
 * QMP ids and thread names, so they stay within safe characters everywhere.
 */
public final class DeviceIds {
    /** The grammar, for plugins that need the pattern itself. */
    public static final Pattern ID = Pattern.compile("[A-Za-z][A-Za-z0-9_.-]{0,63}");

    private DeviceIds() {
    }

    /** The device id, or {@code INVALID_ARGUMENT} naming it and the grammar. */
    public static String checkDeviceId(String type, String id) {
        return check(type, "device", id);
    }

    /** The IOThread id, or {@code INVALID_ARGUMENT} naming it and the grammar. */
    public static String checkIoThreadId(String type, String id) {
        return check(type, "IOThread", id);
    }

    public static boolean isValid(String id) {
        return id != null && ID.matcher(id).matches();
    }

    private static String check(String type, String what, String id) {
        if (!isValid(id)) {
            throw new RequestRejectedException(Reason.INVALID_ARGUMENT, type + ": invalid " + what + " id '" + id
                    + "': expected a letter, then up to 63 letters, digits, '_', '.' or '-'");
        }
        return id;
    }
}
