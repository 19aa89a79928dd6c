package io.hvspi.guest;

import io.hvspi.spi.HvspiException;

/**
 * The test guest could not be built, or it answered a command with an error.
 * A guest that stops answering or whose VM exits raises
 * {@link io.hvspi.spi.VmmUnavailableException} instead.
 */
public class GuestException extends HvspiException {
    private static final long serialVersionUID = 1L;

    public GuestException(String message) {
        super(message);
    }

    public GuestException(String message, Throwable cause) {
        super(message, cause);
    }
}
