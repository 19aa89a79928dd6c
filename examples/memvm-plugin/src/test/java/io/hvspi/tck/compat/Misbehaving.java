package io.hvspi.tck.compat;

import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.function.UnaryOperator;

/** Plugins that break one promise each, made by replacing one method of an honest plugin's objects. */
final class Misbehaving {
    /** What replaces a method: gets the honest object and the arguments. */
    interface Replacement {
        Object call(Object honest, Object[] args) throws Throwable;
    }

    private Misbehaving() {}

    /**
     * {@code honest} with {@code method} replaced; default methods the honest object does not override run on
     * the result, so they see the replacement (those it overrides, such as memvm's pin, stay its own).
     */
    static <T> T replace(Class<T> api, T honest, String method, Replacement replacement) {
        InvocationHandler handler = (proxy, m, args) -> {
            if (m.getName().equals(method)) {
                return replacement.call(honest, args);
            }
            if (m.isDefault() && honest.getClass().getMethod(m.getName(), m.getParameterTypes()).isDefault()) {
                return InvocationHandler.invokeDefault(proxy, m, args);
            }
            try {
                return m.invoke(honest, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        };
        return api.cast(Proxy.newProxyInstance(api.getClassLoader(), new Class<?>[] {api}, handler));
    }

    /** {@code honest}, whose new VMs are changed by {@code vms}. */
    static HypervisorFactory factory(HypervisorFactory honest, UnaryOperator<Hypervisor> vms) {
        return replace(HypervisorFactory.class, honest, "create",
                (f, args) -> vms.apply(((HypervisorFactory) f).create((io.hvspi.spi.VmSpec) args[0],
                        (io.hvspi.spi.HostContext) args[1])));
    }
}
