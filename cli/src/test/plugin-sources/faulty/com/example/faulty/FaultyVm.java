package com.example.faulty;

import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.Capability;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.HostThreads;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.UnsupportedCapabilityException;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmState;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/** A VM with the bugs a plugin author makes: start fails for type boom, attach for every type. */
final class FaultyVm implements Hypervisor {
    private final String id;
    private final String type;
    private volatile VmState state = VmState.CREATED;

    FaultyVm(String id, String type) {
        this.id = id;
        this.type = type;
    }

    @Override public String vmId() { return id; }
    @Override public String type() { return type; }

    @Override
    public void start() {
        if (type.equals("boom")) {
            throw new IllegalStateException("boom");
        }
        state = VmState.PAUSED;
    }

    @Override public void stop() { state = VmState.STOPPED; }
    @Override public void pause() { state = VmState.PAUSED; }
    @Override public void resume() { state = VmState.RUNNING; }
    @Override public VmState state() { return state; }
    @Override public Set<Capability> capabilities() { return Set.of(Capability.BLOCK_DEVICE, Capability.BLOCK_DEVICE_HOTPLUG); }
    @Override public HostThreads hostThreads() { return new HostThreads(ProcessHandle.current().pid(), List.of()); }
    @Override public Subscription subscribe(Consumer<VmEvent> listener) { return () -> { }; }
    @Override public Optional<IOThreadProvider> ioThreads() { return Optional.empty(); }
    @Override public void close() { }

    @Override
    public Optional<DeviceHotplug> hotplug() {
        return Optional.of(new DeviceHotplug() {
            @Override
            public BlockDevice attach(BlockDeviceSpec spec) {
                Object[] slots = new Object[0];
                return (BlockDevice) slots[7];
            }

            @Override public void detach(String deviceId, Duration timeout) { }
            @Override public List<BlockDevice> list() { return List.of(); }

            @Override
            public BlockDevice move(String deviceId, IOThreadChoice target) {
                throw new UnsupportedCapabilityException(Capability.IOTHREAD_MOVE, type);
            }
        });
    }
}
