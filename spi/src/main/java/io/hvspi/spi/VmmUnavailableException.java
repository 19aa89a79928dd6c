package io.hvspi.spi;

import java.util.List;

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
    private final List<String> vmmLog;

    public VmmUnavailableException(Reason reason, String message) {
        super(message);
        this.reason = reason;
        this.vmmLog = List.of();
    }

    public VmmUnavailableException(Reason reason, String message, Throwable cause) {
        this(reason, message, cause, List.of());
    }

    /**
     * As {@link #VmmUnavailableException(Reason, String, Throwable)}, with the last lines
     * the VMM wrote to its log: a VMM that exited during start usually said why there,
     * and its runtime directory (with the log) is gone once the start is undone.
     *
     * @since 1.1
     */
    public VmmUnavailableException(Reason reason, String message, Throwable cause, List<String> vmmLog) {
        super(message, cause);
        this.reason = reason;
        this.vmmLog = List.copyOf(vmmLog);
    }

    public Reason reason() {
        return reason;
    }

    /**
     * The last lines of the VMM's own log (stdout and stderr), oldest first, when the
     * plugin had them; empty otherwise.
     *
     * @since 1.1
     */
    public List<String> vmmLog() {
        return vmmLog;
    }
}
