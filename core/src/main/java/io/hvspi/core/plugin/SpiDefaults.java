package io.hvspi.core.plugin;

import io.hvspi.spi.UnsupportedCapabilityException;

/**
 * What the SPI's own default methods throw, and how the host (and the compatibility kit) make it
 * name the plugin. A default method on a view such as {@link io.hvspi.spi.IOThreadProvider#pin}
 * cannot know the hypervisor type of the VM it belongs to, so it throws
 * {@link UnsupportedCapabilityException} with the placeholder type {@value #PLACEHOLDER_TYPE}. A
 * plugin written against SPI 1.0 relies on exactly that default for every 1.1 addition, and is
 * right to: the error is the uniform unsupported error. {@link #naming} turns it into the same
 * error naming the plugin's type, which is what a user must see and what the kit checks.
 */
public final class SpiDefaults {
    /** The hypervisor type the SPI's default methods put into their unsupported error. */
    public static final String PLACEHOLDER_TYPE = "this hypervisor";

    private SpiDefaults() {}

    /**
     * True when {@code e} came from an SPI default method: it names only the placeholder, and was made
     * in the SPI's own code (a plugin that writes the placeholder itself is not covered up).
     */
    public static boolean fromSpiDefault(UnsupportedCapabilityException e) {
        if (!PLACEHOLDER_TYPE.equals(e.hypervisorType())) {
            return false;
        }
        StackTraceElement[] trace = e.getStackTrace();
        return trace.length == 0 || trace[0].getClassName().startsWith(SPI_PACKAGE);
    }

    private static final String SPI_PACKAGE = UnsupportedCapabilityException.class.getPackageName() + ".";

    /**
     * {@code e} naming {@code type} when it came from an SPI default method (the original kept as the
     * cause, its stack trace kept too), else {@code e} itself. A {@code null} type changes nothing.
     */
    public static UnsupportedCapabilityException naming(UnsupportedCapabilityException e, String type) {
        if (type == null || !fromSpiDefault(e)) {
            return e;
        }
        UnsupportedCapabilityException named = new UnsupportedCapabilityException(e.capability(), type,
                "the plugin leaves it to the SPI's default");
        named.initCause(e);
        named.setStackTrace(e.getStackTrace());
        return named;
    }
}
