package io.hvspi.core.plugin;

import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HvspiException;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.NetworkHotplug;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmEvent;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Proxy;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The boundary between hvspi and plugin code. Whatever escapes a plugin that is
 * not one of the SPI's own errors ({@link HvspiException}) is the plugin's bug,
 * not hvspi's: it becomes a {@link PluginFaultException} naming the plugin, where it
 * came from and the SPI method, e.g.
 * {@code plugin 'acme' (plugins/acme-1.0.jar) failed in Hypervisor.start: IllegalStateException: boom}.
 *
 * <p>A dynamic proxy rather than hand-written delegates: it covers every SPI
 * method, default methods and ones added later included, in one place. The
 * views a guarded object hands out (VMs, {@code ioThreads()}, {@code hotplug()},
 * subscriptions) are guarded too. Only a {@link VirtualMachineError} passes
 * unchanged: the JVM itself is in trouble then, not the plugin.
 */
final class PluginGuard implements InvocationHandler {
    private static final Logger LOG = LoggerFactory.getLogger(PluginGuard.class);

    /** The SPI types whose instances come from plugin code and are guarded in turn. */
    private static final Set<Class<?>> GUARDED = Set.of(HypervisorFactory.class, Hypervisor.class,
            IOThreadProvider.class, DeviceHotplug.class, NetworkHotplug.class, Hypervisor.Subscription.class);

    private final Object target;
    private final String blame;
    /** The plugin's type, read once at load; names the VM in the unsupported error of an SPI default. */
    private final String type;

    private PluginGuard(Object target, String blame, String type) {
        this.target = target;
        this.blame = blame;
        this.type = type;
    }

    /**
     * {@code factory} behind the guard.
     *
     * @param blame who to name in errors, e.g. {@code plugin 'acme' (plugins/acme-1.0.jar)}
     */
    static HypervisorFactory guard(HypervisorFactory factory, String blame) {
        return guard(factory, blame, null);
    }

    /**
     * {@code factory} behind the guard, knowing the plugin's {@code type} (as read at load): an
     * {@link UnsupportedCapabilityException} thrown by one of the SPI's default methods, which
     * cannot know the type and name a placeholder ({@link SpiDefaults}), reaches the host naming
     * {@code type} instead.
     */
    static HypervisorFactory guard(HypervisorFactory factory, String blame, String type) {
        return wrap(HypervisorFactory.class, factory, blame, type);
    }

    private <T> T wrap(Class<T> api, T target) {
        return wrap(api, target, blame, type);
    }

    private static <T> T wrap(Class<T> api, T target, String blame, String type) {
        if (Proxy.isProxyClass(target.getClass()) && Proxy.getInvocationHandler(target) instanceof PluginGuard) {
            return target;
        }
        return api.cast(Proxy.newProxyInstance(api.getClassLoader(), new Class<?>[] {api},
                new PluginGuard(target, blame, type)));
    }

    @Override
    public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
        if (method.getDeclaringClass() == Object.class) {
            return switch (method.getName()) {
                case "equals" -> proxy == args[0];
                case "hashCode" -> System.identityHashCode(proxy);
                default -> blame + " " + method.getDeclaringClass().getSimpleName();
            };
        }
        String where = method.getDeclaringClass().getSimpleName() + "." + method.getName();
        Object result;
        try {
            result = method.invoke(target, guardArguments(args));
        } catch (InvocationTargetException e) {
            throw translate(where, e.getCause());
        }
        return guardResult(method, where, result);
    }

    private RuntimeException translate(String where, Throwable t) {
        if (t instanceof UnsupportedCapabilityException u) {
            return SpiDefaults.naming(u, type);
        }
        if (t instanceof HvspiException h) {
            return h;
        }
        // a StackOverflowError in the plugin's code is the plugin's recursion; running out of memory is not
        if (t instanceof VirtualMachineError v && !(t instanceof StackOverflowError)) {
            throw v;
        }
        return new PluginFaultException(blame + " failed in " + where + ": " + PluginChecks.oneLine(t), where, t);
    }

    @SuppressWarnings("unchecked")
    private Object[] guardArguments(Object[] args) {
        if (args == null) {
            return null;
        }
        Object[] out = args.clone();
        for (int i = 0; i < out.length; i++) {
            if (out[i] instanceof Consumer<?> listener) {
                out[i] = quietListener((Consumer<VmEvent>) listener);
            }
        }
        return out;
    }

    /** The host's listener runs on the plugin's event thread: its failure must not end that thread. */
    private Consumer<VmEvent> quietListener(Consumer<VmEvent> listener) {
        return event -> {
            try {
                listener.accept(event);
            } catch (RuntimeException e) {
                LOG.warn("an event listener of {} failed on {}: {}", blame, event, PluginChecks.oneLine(e));
            }
        };
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private Object guardResult(Method method, String where, Object result) {
        Class<?> returned = method.getReturnType();
        if (returned == void.class || returned.isPrimitive()) {
            return result;
        }
        if (result == null) {
            throw new PluginFaultException(blame + " broke the SPI in " + where + ": it returned null", where, null);
        }
        if (GUARDED.contains(returned)) {
            return wrap((Class) returned, result);
        }
        if (result instanceof Collection<?> elements) {
            return checkedCopy(where, elements);
        }
        if (result instanceof Optional<?> optional) {
            Class<?> element = optionalElement(method.getGenericReturnType());
            if (element != null && GUARDED.contains(element)) {
                return optional.map(view -> wrap((Class) element, view));
            }
        }
        return result;
    }

    /**
     * A copy the host can trust: "no nulls across the SPI" holds for elements too, and the
     * plugin's own collection (whose iterator may throw, or change later) is read once, here.
     */
    private Collection<?> checkedCopy(String where, Collection<?> elements) {
        List<Object> copy = new ArrayList<>();
        try {
            for (Object element : elements) {
                if (element == null) {
                    throw new PluginFaultException(blame + " broke the SPI in " + where
                            + ": it returned a collection holding null", where, null);
                }
                copy.add(element);
            }
        } catch (PluginFaultException e) {
            throw e;
        } catch (RuntimeException | LinkageError | StackOverflowError e) {
            throw translate(where, e);
        }
        return elements instanceof Set<?> ? Collections.unmodifiableSet(new LinkedHashSet<>(copy))
                : Collections.unmodifiableList(copy);
    }

    private static Class<?> optionalElement(Type type) {
        if (type instanceof ParameterizedType p && p.getActualTypeArguments()[0] instanceof Class<?> c) {
            return c;
        }
        return null;
    }
}
