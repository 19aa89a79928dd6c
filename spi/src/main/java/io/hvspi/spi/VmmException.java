package io.hvspi.spi;

/**
 * The VMM answered, and its answer was an error. Keeps the VMM's own error class
 * (QMP {@code GenericError}, {@code DeviceNotFound}; HTTP {@code 500}; a bridge
 * error kind), its own text unchanged, and the command that drew it.
 */
public class VmmException extends HvspiException {
    private static final long serialVersionUID = 1L;

    private final String errorClass;
    private final String vmmMessage;
    private final String command;

    public VmmException(String command, String errorClass, String vmmMessage) {
        super(command + " failed: " + errorClass + ": " + vmmMessage);
        this.command = command;
        this.errorClass = errorClass;
        this.vmmMessage = vmmMessage;
    }

    /** The VMM's error class, e.g. {@code GenericError} or {@code 500}. */
    public String errorClass() {
        return errorClass;
    }

    /** The VMM's own error text, unchanged. */
    public String vmmMessage() {
        return vmmMessage;
    }

    /** The command or request that failed, e.g. {@code device_add} or {@code PUT /api/v1/vm.add-disk}. */
    public String command() {
        return command;
    }
}
