package io.hvspi.spi;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * The version of this SPI, as a semantic version. Plugins declare the range they
 * were built for in their descriptor ({@code Plugin-Requires: >=1.0.0 & <2.0.0});
 * the host passes this version to pf4j so that a plugin built for another major
 * version is skipped with a reason instead of failing at run time.
 */
public final class SpiVersion {
    /** The running SPI's version, e.g. {@code 1.0.0}. */
    public static final String CURRENT = load();

    private SpiVersion() {}

    private static String load() {
        try (InputStream in = SpiVersion.class.getResourceAsStream("/hvspi-spi.properties")) {
            if (in == null) {
                throw new IllegalStateException("hvspi-spi.properties missing from the SPI jar");
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("spi.version");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
