package io.hvspi.core.plugin;

import io.hvspi.spi.PluginException;

/**
 * Plugin code failed with something that is not an SPI error (a
 * NullPointerException, an IllegalStateException, a missing class): a bug in the
 * plugin, reported as the plugin's. The plugin's own throwable is the cause.
 */
public final class PluginFaultException extends PluginException {
    private static final long serialVersionUID = 1L;

    private final String method;

    PluginFaultException(String message, String method, Throwable cause) {
        super(message, cause);
        this.method = method;
    }

    /** The SPI method that failed, e.g. {@code Hypervisor.start}. */
    public String method() {
        return method;
    }
}
