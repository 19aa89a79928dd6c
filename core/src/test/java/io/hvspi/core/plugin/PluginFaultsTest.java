package io.hvspi.core.plugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.NetBackend;
import io.hvspi.spi.NetDeviceSpec;
import io.hvspi.spi.RequestRejectedException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Whatever escapes plugin code is the plugin's fault: a PluginException naming the plugin, its jar and the method. */
class PluginFaultsTest {
    private static final String OK = ">=1.0.0 & <2.0.0";

    @TempDir
    Path dir;

    private Path faulty(String type) {
        return FaultyPluginSource.add(new PluginJarBuilder().descriptor("faulty-" + type, "1.0.0", OK),
                "com.example.faulty." + type, type).build(dir.resolve("faulty-" + type + "-1.0.jar"));
    }

    private static PluginFaultException fault(org.junit.jupiter.api.function.Executable op) {
        return assertThrows(PluginFaultException.class, op);
    }

    @Test
    void aNullPointerExceptionInCreateNamesThePluginItsJarAndTheMethod() {
        Path jar = faulty("npe");
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            HypervisorFactory factory = registry.factory("npe");
            PluginFaultException e = fault(() -> factory.create(null, null));
            assertEquals("HypervisorFactory.create", e.method());
            assertTrue(e.getMessage().startsWith("plugin 'faulty-npe' (" + jar + ") failed in HypervisorFactory.create:"
                    + " NullPointerException: "), e.getMessage());
            assertInstanceOf(NullPointerException.class, e.getCause(), "the plugin's exception is kept as the cause");
        }
    }

    @Test
    void faultsOfTheVmAndItsViewsAreThePluginsToo() {
        Path jar = faulty("acme");
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            Hypervisor vm = registry.factory("acme").create(null, null);
            String plugin = "plugin 'faulty-acme' (" + jar + ") ";
            assertEquals(plugin + "failed in Hypervisor.start: IllegalStateException: boom", fault(vm::start).getMessage());
            BlockDeviceSpec disk = BlockDeviceSpec.builder("d0", BlockBackend.nullBackend()).build();
            assertEquals(plugin + "failed in DeviceHotplug.attach: ArrayIndexOutOfBoundsException: slot 7",
                    fault(() -> vm.requireHotplug().attach(disk)).getMessage());
            assertEquals(plugin + "failed in DeviceHotplug.attach: ArrayIndexOutOfBoundsException: slot 7",
                    fault(() -> vm.hotplug().orElseThrow().attach(disk)).getMessage(), "the Optional view is guarded");
            NetDeviceSpec nic = NetDeviceSpec.of("n0", NetBackend.tap("tap0"));
            assertEquals(plugin + "failed in NetworkHotplug.attach: IllegalArgumentException: no tap",
                    fault(() -> vm.requireNetworkHotplug().attach(nic)).getMessage(), "the network view is guarded");
            assertEquals(plugin + "broke the SPI in Hypervisor.ioThreads: it returned null",
                    fault(vm::ioThreads).getMessage());
            assertEquals(plugin + "failed in Subscription.close: NoClassDefFoundError: com/acme/Gone",
                    fault(() -> vm.subscribe(e -> { }).close()).getMessage());
        }
    }

    @Test
    void theSpisOwnErrorsPassUnchanged() {
        faulty("acme");
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            Hypervisor vm = registry.factory("acme").create(null, null);
            RequestRejectedException e = assertThrows(RequestRejectedException.class, vm::pause);
            assertEquals("not running", e.getMessage());
            assertEquals(RequestRejectedException.Reason.INVALID_STATE, e.reason());
        }
    }

    @Test
    void aFailingListenerDoesNotEndThePluginsEventThread() throws InterruptedException {
        faulty("acme");
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            Hypervisor vm = registry.factory("acme").create(null, null);
            List<String> seen = new CopyOnWriteArrayList<>();
            vm.subscribe(event -> {
                seen.add(event.name());
                if (event.name().equals("FIRST")) {
                    throw new IllegalArgumentException("host listener bug");
                }
            });
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (seen.size() < 2 && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertEquals(List.of("FIRST", "SECOND"), seen);
        }
    }

    @Test
    void guardedObjectsCompareByIdentity() {
        faulty("acme");
        try (PluginRegistry registry = PluginRegistry.load(dir)) {
            HypervisorFactory factory = registry.factory("acme");
            assertSame(factory, registry.entry("acme").orElseThrow().factory());
            Hypervisor vm = factory.create(null, null);
            assertEquals(vm, vm);
            assertTrue(!vm.equals(factory.create(null, null)));
        }
    }
}
