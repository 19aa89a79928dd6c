package io.hvspi.cli;

import java.util.List;
import java.util.Locale;
import picocli.CommandLine;

/**
 * {@code --log-level LEVEL} and {@code --debug}: hvctl's log levels. slf4j-simple takes its
 * levels once, when the first logger is made, so {@link Hvctl#main} reads them from the raw
 * arguments before picocli (or any library) runs; picocli then validates the same options.
 * hvspi logs at the level asked; third-party libraries (pf4j's plugin loading above all)
 * stay quiet below debug, because hvctl reports their problems itself, with reasons.
 */
final class Logging {
    static final String DEFAULT = "warn";
    static final List<String> LEVELS = List.of("off", "error", "warn", "info", "debug", "trace");
    private static final String PREFIX = "org.slf4j.simpleLogger.";

    private Logging() {}

    /** The level the arguments ask for, or null: --debug means debug, the last --log-level wins over it. */
    static String requested(String... args) {
        String level = null;
        boolean debug = false;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("--")) {
                break;
            } else if (arg.equals("--debug")) {
                debug = true;
            } else if (arg.equals("--log-level") && i + 1 < args.length) {
                level = args[++i];
            } else if (arg.startsWith("--log-level=")) {
                level = arg.substring("--log-level=".length());
            }
        }
        if (level != null && LEVELS.contains(level.toLowerCase(Locale.ROOT))) {
            return level.toLowerCase(Locale.ROOT);
        }
        return debug ? "debug" : null; // an unknown level is picocli's to reject, with the usage exit code
    }

    /** Whether stack traces are wanted: only --debug, not --log-level debug (logs and traces are two asks). */
    static boolean stackTraces(String... args) {
        for (String arg : args) {
            if (arg.equals("--")) {
                return false;
            }
            if (arg.equals("--debug")) {
                return true;
            }
        }
        return false;
    }

    /** Sets slf4j-simple's levels; system properties win over simplelogger.properties. */
    static void configure(String level) {
        System.setProperty(PREFIX + "log.io.hvspi", level);
        int rank = LEVELS.indexOf(level);
        boolean verbose = rank >= LEVELS.indexOf("debug");
        // third parties: their warnings as before, their chatter only when debugging
        System.setProperty(PREFIX + "defaultLogLevel", verbose ? "info" : rank < LEVELS.indexOf(DEFAULT) ? level : DEFAULT);
        // pf4j and Jetty (the Cloud Hypervisor plugin's HTTP client) say nothing hvctl does not report itself
        String quiet = verbose ? (level.equals("trace") ? "debug" : "info") : "off";
        System.setProperty(PREFIX + "log.org.pf4j", quiet);
        System.setProperty(PREFIX + "log.org.eclipse.jetty", quiet);
        if (rank >= LEVELS.indexOf("info")) {
            // several lines now: say which level and which logger, and when under debug
            System.setProperty(PREFIX + "levelInBrackets", "false");
            System.setProperty(PREFIX + "showShortLogName", "true");
        }
        if (verbose) {
            System.setProperty(PREFIX + "showDateTime", "true");
            System.setProperty(PREFIX + "dateTimeFormat", "HH:mm:ss.SSS");
            System.setProperty(PREFIX + "showThreadName", "true");
        }
    }

    /** Rejects an unknown level with the list of known ones (exit 2). */
    static final class Level implements CommandLine.ITypeConverter<String> {
        @Override
        public String convert(String value) {
            String level = value.toLowerCase(Locale.ROOT);
            if (!LEVELS.contains(level)) {
                throw new CommandLine.TypeConversionException(
                        "expected one of " + String.join(", ", LEVELS) + ", got '" + value + "'");
            }
            return level;
        }
    }

    /** For completion and help: the levels. */
    static final class Levels implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return LEVELS.iterator();
        }
    }
}
