package com.example.hanging;

import io.hvspi.spi.Capability;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import io.hvspi.spi.VmState;
import io.hvspi.spi.VmmUnavailableException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import org.pf4j.Extension;

/**
 * Two factories in one plugin whose stop is broken: stopsoe throws StackOverflowError,
 * stophang never returns. The VMM is a real process, {@code tail -f <runtime dir>/vmm.log},
 * recorded as a plugin records its VMM.
 */
public final class HangingFactories {
    private HangingFactories() {}

    static int recurse(int n) {
        return recurse(n + 1) + 1;
    }

    abstract static class Base implements HypervisorFactory {
        @Override
        public Set<Capability> declaredCapabilities() {
            return EnumSet.of(Capability.BLOCK_DEVICE);
        }

        @Override
        public Hypervisor create(VmSpec spec, HostContext host) {
            return new Vm(spec.vmId(), type(), host, 0);
        }

        @Override
        public Hypervisor reattach(VmRecord record, HostContext host) {
            return new Vm(record.vmId(), type(), host, record.pid());
        }
    }

    @Extension
    public static final class StopSoe extends Base {
        @Override public String type() { return "stopsoe"; }
    }

    @Extension
    public static final class StopHang extends Base {
        @Override public String type() { return "stophang"; }
    }

    static final class Vm implements Hypervisor {
        private final String vmId;
        private final String type;
        private final HostContext host;
        private volatile long pid;

        Vm(String vmId, String type, HostContext host, long pid) {
            this.vmId = vmId;
            this.type = type;
            this.host = host;
            this.pid = pid;
        }

        @Override public String vmId() { return vmId; }
        @Override public String type() { return type; }

        @Override
        public void start() {
            Path dir = host.createRuntimeDir(vmId);
            try {
                Path log = dir.resolve("vmm.log");
                Files.writeString(log, "");
                pid = new ProcessBuilder("tail", "-f", log.toString()).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().pid();
            } catch (IOException e) {
                throw new VmmUnavailableException(VmmUnavailableException.Reason.EXITED, e.getMessage(), e);
            }
            host.stateStore().save(new VmRecord(vmId, type, pid, dir, Instant.now(), "{}"));
        }

        @Override
        public void stop() {
            if (type.equals("stopsoe")) {
                recurse(0);
            }
            while (true) {
                try {
                    Thread.sleep(100_000);
                } catch (InterruptedException ignored) {
                    // a plugin that hangs ignores interrupts too
                }
            }
        }

        @Override public void pause() { }
        @Override public void resume() { }
        @Override public VmState state() { return pid > 0 ? VmState.RUNNING : VmState.CREATED; }
        @Override public Set<Capability> capabilities() { return EnumSet.of(Capability.BLOCK_DEVICE); }
        @Override public HostThreads hostThreads() { return new HostThreads(pid, List.of()); }
        @Override public Subscription subscribe(Consumer<VmEvent> listener) { return () -> { }; }
        @Override public Optional<IOThreadProvider> ioThreads() { return Optional.empty(); }
        @Override public Optional<DeviceHotplug> hotplug() { return Optional.empty(); }
        @Override public void close() { }
    }
}
