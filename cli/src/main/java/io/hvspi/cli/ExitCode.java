package io.hvspi.cli;

import io.hvspi.core.plugin.PluginFaultException;
import io.hvspi.spi.ConfigException;
import io.hvspi.spi.PluginException;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmmUnavailableException;

/** hvctl's exit codes; {@code hvctl --help} prints this table. */
public final class ExitCode {
    public static final int OK = 0;
    /** The VMM refused the operation, or the framework rejected it (unknown id, IOThread in use, ...). */
    public static final int FAILED = 1;
    /** Bad command-line arguments. */
    public static final int USAGE = 2;
    /** The configuration file, a value or an annotation is wrong. */
    public static final int CONFIG = 3;
    /** No plugin for the configured hypervisor, two claim it, a plugin could not be loaded, or its code failed. */
    public static final int PLUGIN = 4;
    /** The VMM exited, hung past the timeout, or spoke garbage. */
    public static final int VMM_UNAVAILABLE = 5;
    /** The hypervisor lacks a capability the operation needs. */
    public static final int UNSUPPORTED = 6;
    /** {@code hvctl compat}: a declared capability failed its contract tests. */
    public static final int COMPAT_FAILED = 7;
    /** A bug in hvctl: an error it did not expect. */
    public static final int INTERNAL = 70;

    static final String HELP = """
            Exit codes:
              0   success
              1   the operation failed (the VMM refused it, or hvspi rejected it)
              2   bad command-line arguments
              3   configuration error (file, value or annotation)
              4   plugin error (none or two for the type, or it failed to load or run)
              5   the VMM is unavailable (exited, timed out, protocol error)
              6   the hypervisor does not support the operation
              7   compat: a declared capability failed its contract tests
              70  internal error (a bug; please report it)""";

    private ExitCode() {}

    static int of(Throwable e) {
        if (e instanceof ConfigException) {
            return CONFIG;
        } else if (e instanceof PluginException) {
            return PLUGIN;
        } else if (e instanceof VmmUnavailableException) {
            return VMM_UNAVAILABLE;
        } else if (e instanceof UnsupportedCapabilityException) {
            return UNSUPPORTED;
        } else if (e instanceof io.hvspi.spi.HvspiException) {
            return FAILED;
        }
        return INTERNAL;
    }

    /** What to try next, or null. */
    static String hint(Throwable e) {
        if (e instanceof ConfigException) {
            return "check the file with: hvctl config check FILE";
        } else if (e instanceof PluginFaultException) {
            return "a bug in the plugin, not in hvspi: report it to the plugin's author (--debug shows its stack trace)";
        } else if (e instanceof PluginException) {
            return "list what is installed with: hvctl plugins";
        } else if (e instanceof VmmUnavailableException) {
            // a failed start removed the runtime directory: point at what is left, not at the log
            return VmmLogTail.of(e).isEmpty() ? "see whether the VM is still recorded, and its VMM's log, with:"
                    + " hvctl vm list, hvctl vm logs VM" : "the VMM's output above says why; --debug also shows its"
                    + " command line";
        } else if (e instanceof UnsupportedCapabilityException) {
            return "see what each hypervisor supports with: hvctl capabilities";
        }
        return null;
    }
}
