package io.hvspi.core.config;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A finding about a configuration that is not an error: a key that has no
 * effect, or a key neither Kata nor hvspi knows.
 *
 * @param key the dotted key, e.g. {@code hypervisor.qemu.indep_iothreads}
 * @param line 1-based line of the value in the file, 0 when unknown (a default or an annotation)
 * @param column 1-based column of the value, 0 when unknown
 * @param message what is wrong and what happens instead
 */
public record ConfigNote(String key, int line, int column, String message) {

    public ConfigNote {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(message, "message");
    }

    /** The note as one compiler-like line, {@code file:line:col: key: message}, as {@code ConfigException} formats errors. */
    public String format(Path file) {
        return new io.hvspi.spi.ConfigException(file, line, column, key, message).getMessage();
    }
}
