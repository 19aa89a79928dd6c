package io.hvspi.core.config;

import io.hvspi.spi.ConfigException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Turns a key of the selected hypervisor table into a located error or note:
 * {@code file:line:col: hypervisor.qemu.key: ...} for a value from the file, or
 * the annotation's name for a value an annotation set.
 */
record Locator(Path file, String type, Map<String, Origin> origins) {

    Locator {
        origins = Map.copyOf(origins);
    }

    Origin origin(String key) {
        return origins.getOrDefault(key, Origin.DEFAULT);
    }

    String dotted(String key) {
        return "hypervisor." + type + "." + key;
    }

    ConfigException error(String key, String problem) {
        Origin o = origin(key);
        if (o.fromAnnotation()) {
            return new ConfigException(null, 0, 0, o.annotation(), problem);
        }
        return new ConfigException(file, o.line(), o.column(), dotted(key), problem);
    }

    ConfigNote note(String key, String message) {
        Origin o = origin(key);
        String text = o.fromAnnotation() ? message + " (set by annotation " + o.annotation() + ")" : message;
        return new ConfigNote(dotted(key), o.line(), o.column(), text);
    }

    /** A value as TOML would spell it, for "got ..." in messages. */
    static String show(Object value) {
        if (value instanceof String s) {
            return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
        }
        if (value instanceof java.util.List<?>) {
            return "an array";
        }
        if (value instanceof Map<?, ?>) {
            return "a table";
        }
        return String.valueOf(value);
    }
}
