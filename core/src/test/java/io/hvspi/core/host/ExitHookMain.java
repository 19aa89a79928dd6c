package io.hvspi.core.host;

import static org.mockito.ArgumentMatchers.any;
import static org.mockito.Mockito.doAnswer;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.when;

import io.hvspi.core.plugin.PluginRegistry;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.VmSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * A child JVM for {@link StopOnExitTest}: registers a resource with {@link HvspiHost#closeOnExit}
 * (a host whose command timeout is {@link #BOUND}) whose close takes {@code args[1]} ms, or never
 * returns for {@code -1}, and then writes {@code args[0]}/closed. Then, by {@code args[2]}:
 * {@code wait} prints {@code ready} and waits for a signal; {@code exit-while-closing} starts the
 * close on a thread of its own and calls {@code System.exit(0)} once it has begun.
 */
public final class ExitHookMain {
    static final Duration BOUND = Duration.ofSeconds(2);
    /** The command timeout of the host whose VM's stop hangs: the handle waits three of them for the plugin. */
    static final Duration VM_BOUND_BASE = Duration.ofMillis(250);

    private ExitHookMain() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        long closeMillis = Long.parseLong(args[1]);
        HvspiHost host = HvspiHost.builder().classpathPlugins().runtimeRoot(dir.resolve("run")).commandTimeout(BOUND)
                .build();
        ClosedOnExit registration = host.closeOnExit(() -> {
            Files.writeString(dir.resolve("closing"), "");
            if (closeMillis < 0) {
                new CountDownLatch(1).await(); // a close that hangs
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(closeMillis)); // a slow close, not a wait
            Files.writeString(dir.resolve("closed"), "");
        });
        switch (args[2]) {
            case "vm-stop-hangs" -> {
                // a plugin whose stop never returns, and the resource registered after its VM started
                HvspiHost hanging = hostWithAVmWhoseStopHangs(dir.resolve("vms"));
                hanging.start(VmSpec.builder().vmId("vm1").hypervisorType("fake").binary(Path.of("/bin/true"))
                        .build());
                hanging.closeOnExit(() -> Files.writeString(dir.resolve("closed-after-vm"), ""));
                System.out.println("ready");
                System.out.flush();
                Thread.sleep(Long.MAX_VALUE); // until the test's signal
            }
            case "wait" -> {
                System.out.println("ready");
                System.out.flush();
                Thread.sleep(Long.MAX_VALUE); // until the test's signal
            }
            case "exit-while-closing" -> {
                Thread.ofPlatform().start(registration::close);
                while (!Files.exists(dir.resolve("closing"))) {
                    Thread.onSpinWait();
                }
                System.exit(0);
            }
            default -> throw new IOException("unknown mode " + args[2]);
        }
    }

    /** A host (command timeout {@link #VM_BOUND_BASE}) whose one plugin's VMs never return from stop(). */
    private static HvspiHost hostWithAVmWhoseStopHangs(Path root) {
        PluginRegistry registry = mock(PluginRegistry.class);
        HypervisorFactory factory = mock(HypervisorFactory.class);
        Hypervisor vm = mock(Hypervisor.class);
        when(registry.factory("fake")).thenReturn(factory);
        when(factory.create(any(), any())).thenReturn(vm);
        when(vm.vmId()).thenReturn("vm1");
        when(vm.type()).thenReturn("fake");
        doAnswer(stop -> {
            new CountDownLatch(1).await();
            return null;
        }).when(vm).stop();
        return HvspiHost.builder().plugins(registry).runtimeRoot(root).commandTimeout(VM_BOUND_BASE).build();
    }
}
