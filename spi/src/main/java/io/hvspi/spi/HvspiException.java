package io.hvspi.spi;

/**
 * The one unchecked base of every error hvspi and its plugins raise on purpose.
 * Messages are one line, say what was wrong and where, and never end with a
 * period, so that a caller can append a hint.
 */
public class HvspiException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public HvspiException(String message) {
        super(message);
    }

    public HvspiException(String message, Throwable cause) {
        super(message, cause);
    }
}
