package io.hvspi.spi;

/**
 * The VMM did not answer: it exited, stopped answering within the timeout, or
 * spoke something that is not its protocol. Every call that talks to a VMM ends
 * with an answer or with this error within its timeout; none hangs.
 */
public class VmmUnavailableException extends HvspiException {
    private static final long serialVersionUID = 1L;

    /** Why the VMM could not be used. */
    public enum Reason {
        /** The process exited or the connection closed. */
        EXITED,
        /** No answer within the call's timeout. */
        TIMED_OUT,
        /** The peer sent something that is not the expected protocol. */
        PROTOCOL_ERROR
    }

    private final Reason reason;

    public VmmUnavailableException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public VmmUnavailableException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
