package io.hvspi.cli;

/**
 * {@code --debug}: stack traces for every error, and the logs that are quiet by
 * default (hvspi at DEBUG, pf4j at INFO). Read from the raw arguments because
 * slf4j-simple takes its levels once, when the first logger is made.
 */
final class DebugMode {
    private DebugMode() {}

    static boolean requested(String... args) {
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

    /** System properties win over simplelogger.properties, where pf4j is off and the default is WARN. */
    static void enableLogging() {
        System.setProperty("org.slf4j.simpleLogger.log.io.hvspi", "debug");
        System.setProperty("org.slf4j.simpleLogger.log.org.pf4j", "info");
        System.setProperty("org.slf4j.simpleLogger.log.org.eclipse.jetty", "info");
    }
}
