package io.hvspi.cli;

import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.ILoggerFactory;
import org.slf4j.IMarkerFactory;
import org.slf4j.Logger;
import org.slf4j.MDC;
import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.BasicMDCAdapter;
import org.slf4j.helpers.LegacyAbstractLogger;
import org.slf4j.simple.SimpleServiceProvider;
import org.slf4j.spi.LoggingEventBuilder;
import org.slf4j.spi.MDCAdapter;
import org.slf4j.spi.SLF4JServiceProvider;

/**
 * hvctl's slf4j provider: slf4j-simple, whose lines also carry the VM they concern.
 * The host puts the VM id into the MDC around every VM operation (core's
 * {@code VmTaggedLogging}), and slf4j-simple prints no MDC but does print key-values;
 * so each line logged under a VM id gets {@code vm=ID} in front, unless one of its
 * arguments already is that id. Selected with {@code -Dslf4j.provider} (see {@link #install}),
 * so slf4j sees one provider and warns of none.
 */
public final class VmTaggedLogs implements SLF4JServiceProvider {
    /** Must match core's VmTaggedLogging.KEY. */
    static final String MDC_KEY = "vm";

    private final SimpleServiceProvider simple = new SimpleServiceProvider();
    /** slf4j-simple's own MDC is a no-op: keep the MDC here. */
    private final MDCAdapter mdc = new BasicMDCAdapter();
    private final Map<String, Logger> loggers = new ConcurrentHashMap<>();

    /** Makes slf4j use this provider, unless the user chose one; call before the first logger. */
    static void install() {
        if (System.getProperty("slf4j.provider") == null) {
            System.setProperty("slf4j.provider", VmTaggedLogs.class.getName());
            // slf4j notes an explicit provider at INFO on stderr, on every run: only its warnings are news
            if (System.getProperty("slf4j.internal.verbosity") == null) {
                System.setProperty("slf4j.internal.verbosity", "WARN");
            }
        }
    }

    @Override
    public ILoggerFactory getLoggerFactory() {
        ILoggerFactory factory = simple.getLoggerFactory();
        return name -> loggers.computeIfAbsent(name, n -> new Tagging(factory.getLogger(n)));
    }

    @Override
    public IMarkerFactory getMarkerFactory() {
        return simple.getMarkerFactory();
    }

    @Override
    public MDCAdapter getMDCAdapter() {
        return mdc;
    }

    @Override
    public String getRequestedApiVersion() {
        return simple.getRequestedApiVersion();
    }

    @Override
    public void initialize() {
        simple.initialize();
    }

    /** A logger that hands every call to slf4j-simple's, with the MDC's VM id as a key-value. */
    private static final class Tagging extends LegacyAbstractLogger {
        private static final long serialVersionUID = 1L;
        private final transient Logger delegate;

        Tagging(Logger delegate) {
            this.delegate = delegate;
            this.name = delegate.getName();
        }

        @Override
        protected String getFullyQualifiedCallerName() {
            return null;
        }

        @Override
        protected void handleNormalizedLoggingCall(Level level, Marker marker, String message, Object[] arguments,
                                                   Throwable throwable) {
            LoggingEventBuilder event = delegate.atLevel(level);
            String vm = MDC.get(MDC_KEY);
            if (vm != null && (arguments == null || Arrays.stream(arguments).noneMatch(vm::equals))) {
                event = event.addKeyValue(MDC_KEY, vm);
            }
            if (marker != null) {
                event = event.addMarker(marker);
            }
            if (throwable != null) {
                event = event.setCause(throwable);
            }
            event.log(message, arguments == null ? new Object[0] : arguments);
        }

        @Override
        public boolean isTraceEnabled() {
            return delegate.isTraceEnabled();
        }

        @Override
        public boolean isDebugEnabled() {
            return delegate.isDebugEnabled();
        }

        @Override
        public boolean isInfoEnabled() {
            return delegate.isInfoEnabled();
        }

        @Override
        public boolean isWarnEnabled() {
            return delegate.isWarnEnabled();
        }

        @Override
        public boolean isErrorEnabled() {
            return delegate.isErrorEnabled();
        }
    }
}
