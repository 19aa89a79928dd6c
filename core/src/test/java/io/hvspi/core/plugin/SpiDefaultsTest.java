package io.hvspi.core.plugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.Capability;
import io.hvspi.spi.CpuSet;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.PollingParams;
import io.hvspi.spi.UnsupportedCapabilityException;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * A plugin written against SPI 1.0 leaves {@code IOThreadProvider.pin}/{@code unpin} to the SPI's
 * defaults, which cannot know the VM's type: behind the host's guard the error names the plugin's
 * type, as every other unsupported error does.
 */
class SpiDefaultsTest {

    /** An SPI 1.0 pool: everything but pin and unpin, which stay the SPI's defaults. */
    static final class OldPool implements IOThreadProvider {
        @Override public List<IOThreadInfo> list() { return List.of(); }
        @Override public IOThreadPolicy policy() { return IOThreadPolicy.FIRST; }
        @Override public String choose() { return "indep_iothread_0"; }
        @Override public IOThreadInfo add(String id) { throw new UnsupportedOperationException(); }
        @Override public void remove(String id) { throw new UnsupportedOperationException(); }
        @Override public void setPolling(String id, PollingParams polling) { throw new UnsupportedOperationException(); }
    }

    /** A factory of type {@code old10} whose VMs have that pool; every other method is irrelevant here. */
    private static HypervisorFactory oldPlugin() {
        IOThreadProvider pool = new OldPool();
        InvocationHandler vmCalls = (proxy, m, args) -> switch (m.getName()) {
            case "type" -> "old10";
            case "ioThreads" -> Optional.of(pool);
            default -> throw new UnsupportedOperationException(m.getName());
        };
        Hypervisor vm = (Hypervisor) Proxy.newProxyInstance(Hypervisor.class.getClassLoader(),
                new Class<?>[] {Hypervisor.class}, vmCalls);
        InvocationHandler factoryCalls = (proxy, m, args) -> switch (m.getName()) {
            case "type" -> "old10";
            case "create" -> vm;
            default -> throw new UnsupportedOperationException(m.getName());
        };
        return (HypervisorFactory) Proxy.newProxyInstance(HypervisorFactory.class.getClassLoader(),
                new Class<?>[] {HypervisorFactory.class}, factoryCalls);
    }

    @Test
    void theDefaultsOwnErrorNamesOnlyThePlaceholder() {
        UnsupportedCapabilityException raw = assertThrows(UnsupportedCapabilityException.class,
                () -> new OldPool().pin("indep_iothread_0", CpuSet.of(0)));
        assertTrue(SpiDefaults.fromSpiDefault(raw), raw::getMessage);
        assertEquals(SpiDefaults.PLACEHOLDER_TYPE, raw.hypervisorType());
    }

    @Test
    void behindTheGuardPinAndUnpinNameThePluginsType() {
        HypervisorFactory guarded = PluginGuard.guard(oldPlugin(), "plugin 'old' (old.jar)", "old10");
        IOThreadProvider pool = guarded.create(null, null).ioThreads().orElseThrow();
        for (var op : List.<org.junit.jupiter.api.function.Executable>of(() -> pool.pin("indep_iothread_0",
                CpuSet.of(0)), () -> pool.unpin("indep_iothread_0"))) {
            UnsupportedCapabilityException e = assertThrows(UnsupportedCapabilityException.class, op);
            assertEquals("old10", e.hypervisorType());
            assertEquals(Capability.IOTHREAD_PINNING, e.capability());
            assertTrue(e.getMessage().startsWith("hypervisor 'old10' does not support IOThread pinning "
                    + "(capability iothread-pinning)"), e.getMessage());
            assertTrue(e.getCause() instanceof UnsupportedCapabilityException, "the default's own error is the cause");
        }
    }

    @Test
    void anErrorThatNamesAHypervisorIsPassedUnchanged() {
        UnsupportedCapabilityException own = new UnsupportedCapabilityException(Capability.IOTHREAD_PINNING, "acme");
        assertSame(own, SpiDefaults.naming(own, "old10"));
        UnsupportedCapabilityException placeholder = new UnsupportedCapabilityException(Capability.IOTHREAD_PINNING,
                SpiDefaults.PLACEHOLDER_TYPE);
        assertSame(placeholder, SpiDefaults.naming(placeholder, null), "without a type there is nothing to name");
        assertSame(placeholder, SpiDefaults.naming(placeholder, "old10"),
                "a plugin that writes the placeholder itself is not an SPI default: its error is not covered up");
    }
}
