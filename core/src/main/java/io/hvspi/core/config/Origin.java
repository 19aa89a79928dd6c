package io.hvspi.core.config;

import java.nio.file.Path;

/**
 * Where a value of the hypervisor table came from: a position in a file (the
 * configuration or a drop-in of its {@code config.d}), an annotation, or nowhere
 * (Kata's default).
 *
 * @param file the file holding the value; null for a default, an annotation, or
 *             text parsed without a file of its own (then the configuration's name)
 */
record Origin(Path file, int line, int column, String annotation) {
    static final Origin DEFAULT = new Origin(null, 0, 0, null);

    static Origin at(int line, int column) {
        return new Origin(null, line, column, null);
    }

    static Origin annotation(String key) {
        return new Origin(null, 0, 0, key);
    }

    /** This position, in {@code file}. */
    Origin in(Path file) {
        return new Origin(file, line, column, annotation);
    }

    boolean fromAnnotation() {
        return annotation != null;
    }

    boolean inFile() {
        return line > 0;
    }
}
