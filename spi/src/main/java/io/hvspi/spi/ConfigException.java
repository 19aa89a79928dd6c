package io.hvspi.spi;

import java.nio.file.Path;
import java.util.Optional;

/**
 * A configuration file, value or annotation is wrong. Carries where (file, line,
 * column, key; whichever are known) and says what was expected. The message has
 * the form {@code file:line:col: key: problem}, like a compiler's.
 */
public class ConfigException extends HvspiException {
    private static final long serialVersionUID = 1L;

    private final transient Path file;
    private final int line;
    private final int column;
    private final String key;
    private final String problem;

    /**
     * @param file the file, or null when the value did not come from one (an annotation)
     * @param line 1-based line, or 0 when unknown
     * @param column 1-based column, or 0 when unknown
     * @param key the dotted key, or null
     * @param problem what is wrong and what was expected
     */
    public ConfigException(Path file, int line, int column, String key, String problem) {
        super(format(file, line, column, key, problem));
        this.file = file;
        this.line = line;
        this.column = column;
        this.key = key;
        this.problem = problem;
    }

    private static String format(Path file, int line, int column, String key, String problem) {
        StringBuilder sb = new StringBuilder();
        if (file != null) {
            sb.append(file);
            if (line > 0) {
                sb.append(':').append(line);
                if (column > 0) {
                    sb.append(':').append(column);
                }
            }
            sb.append(": ");
        }
        if (key != null) {
            sb.append(key).append(": ");
        }
        return sb.append(problem).toString();
    }

    public Optional<Path> file() {
        return Optional.ofNullable(file);
    }

    /** 1-based, 0 when unknown. */
    public int line() {
        return line;
    }

    /** 1-based, 0 when unknown. */
    public int column() {
        return column;
    }

    public Optional<String> key() {
        return Optional.ofNullable(key);
    }

    /** The problem without the position. */
    public String problem() {
        return problem;
    }
}
