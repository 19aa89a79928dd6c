package io.hvspi.core.config;

/**
 * Where a value of the hypervisor table came from: a position in the file, an
 * annotation, or nowhere (Kata's default).
 */
record Origin(int line, int column, String annotation) {
    static final Origin DEFAULT = new Origin(0, 0, null);

    static Origin at(int line, int column) {
        return new Origin(line, column, null);
    }

    static Origin annotation(String key) {
        return new Origin(0, 0, key);
    }

    boolean fromAnnotation() {
        return annotation != null;
    }

    boolean inFile() {
        return line > 0;
    }
}
