package io.hvspi.spi;

/**
 * A plugin could not be loaded or used: corrupt jar, no descriptor, built for
 * another SPI version, no plugin for the configured hypervisor, a factory that
 * throws. Names the plugin or its file.
 */
public class PluginException extends HvspiException {
    private static final long serialVersionUID = 1L;

    public PluginException(String message) {
        super(message);
    }

    public PluginException(String message, Throwable cause) {
        super(message, cause);
    }
}
