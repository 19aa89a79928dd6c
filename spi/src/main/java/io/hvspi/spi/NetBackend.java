package io.hvspi.spi;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * The host end of a network device. Sealed so a plugin's switch over it is exhaustive;
 * vhost-user (a Unix socket) is the expected next member.
 */
public sealed interface NetBackend {

    /**
     * A host tap interface.
     *
     * @param name the interface name: 1 to 15 characters (the kernel's IFNAMSIZ less one),
     *             letters, digits, {@code _ . -}; never {@code .} or {@code ..}
     * @param create true when hvspi creates the tap (and removes it when the device is
     *               detached or the VM stops); false for a tap the caller brought, which stays
     */
    record Tap(String name, boolean create) implements NetBackend {
        private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.-]{1,15}");

        public Tap {
            Objects.requireNonNull(name, "name");
            if (!NAME.matcher(name).matches() || name.equals(".") || name.equals("..")) {
                throw new IllegalArgumentException("invalid tap name '" + name
                        + "': expected 1 to 15 letters, digits, '_', '.' or '-'");
            }
        }

        /** A tap the caller brought. */
        public Tap(String name) {
            this(name, false);
        }
    }

    /** An existing tap the caller owns; hvspi never removes it. */
    static NetBackend tap(String name) {
        return new Tap(name, false);
    }

    /** A tap hvspi creates for the device and removes with it. */
    static NetBackend newTap(String name) {
        return new Tap(name, true);
    }
}
