package io.hvspi.spi;

/**
 * The framework refused a request before or instead of sending it to the VMM,
 * because it would be wrong or unsafe: an unknown or duplicate id, an IOThread
 * still in use, a device in a state that does not allow the operation.
 */
public class RequestRejectedException extends HvspiException {
    private static final long serialVersionUID = 1L;

    /** What kind of refusal, so that callers and tests need not parse messages. */
    public enum Reason {
        INVALID_ARGUMENT,
        NOT_FOUND,
        DUPLICATE_ID,
        IN_USE,
        INVALID_STATE,
        EXHAUSTED
    }

    private final Reason reason;

    public RequestRejectedException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
