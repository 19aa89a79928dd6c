package io.hvspi.core.plugin;

/**
 * The source of a plugin whose code fails the way plugin bugs do: a
 * NullPointerException in create() (for the type {@code npe}), an
 * IllegalStateException from start(), a hotplug view whose attach throws, a
 * null where the SPI promises an Optional, a subscription that loses a class,
 * and an SPI error (from pause) that must pass unchanged.
 */
final class FaultyPluginSource {
    private FaultyPluginSource() {}

    static PluginJarBuilder add(PluginJarBuilder jar, String pkg, String type) {
        return jar.source(pkg, "FaultyFactory", """
                package %s;
                import io.hvspi.spi.*;
                import java.util.*;
                import java.util.function.Consumer;
                @org.pf4j.Extension
                public class FaultyFactory implements HypervisorFactory {
                    public String type() { return "%s"; }
                    public Set<Capability> declaredCapabilities() {
                        return Set.of(Capability.BLOCK_DEVICE, Capability.BLOCK_DEVICE_HOTPLUG);
                    }
                    public Hypervisor create(VmSpec spec, HostContext host) {
                        String missing = type().equals("npe") ? null : "vm";
                        return new FaultyVm(missing + missing.length()); // spec unused: tests pass none
                    }
                    public Hypervisor reattach(VmRecord record, HostContext host) {
                        throw new VmmUnavailableException(VmmUnavailableException.Reason.EXITED, "gone");
                    }
                }
                class FaultyVm implements Hypervisor {
                    private final String id;
                    FaultyVm(String id) { this.id = id; }
                    public String vmId() { return id; }
                    public String type() { return "%s"; }
                    public void start() { throw new IllegalStateException("boom"); }
                    public void stop() { }
                    public void pause() {
                        throw new RequestRejectedException(RequestRejectedException.Reason.INVALID_STATE, "not running");
                    }
                    public void resume() { }
                    public VmState state() { return VmState.CREATED; }
                    public Set<Capability> capabilities() { return Set.of(Capability.BLOCK_DEVICE_HOTPLUG); }
                    public HostThreads hostThreads() { throw new UnsupportedOperationException(); }
                    public Subscription subscribe(Consumer<VmEvent> listener) {
                        Thread t = new Thread(() -> {
                            listener.accept(new VmEvent("FIRST", java.time.Instant.now(), Map.of()));
                            listener.accept(new VmEvent("SECOND", java.time.Instant.now(), Map.of()));
                        });
                        t.start();
                        return () -> { throw new NoClassDefFoundError("com/acme/Gone"); };
                    }
                    public Optional<IOThreadProvider> ioThreads() { return null; }
                    public Optional<DeviceHotplug> hotplug() {
                        return Optional.of(new DeviceHotplug() {
                            public BlockDevice attach(BlockDeviceSpec spec) {
                                throw new ArrayIndexOutOfBoundsException("slot 7");
                            }
                            public void detach(String deviceId, java.time.Duration timeout) { }
                            public List<BlockDevice> list() { return List.of(); }
                            public BlockDevice move(String deviceId, IOThreadChoice target) {
                                throw new UnsupportedCapabilityException(Capability.IOTHREAD_MOVE, type());
                            }
                        });
                    }
                    public Optional<NetworkHotplug> networkHotplug() {
                        return Optional.of(new NetworkHotplug() {
                            public NetDevice attach(NetDeviceSpec spec) {
                                throw new IllegalArgumentException("no tap");
                            }
                            public void detach(String deviceId, java.time.Duration timeout) { }
                            public List<NetDevice> list() { return List.of(); }
                        });
                    }
                    public void close() { }
                }
                """.formatted(pkg, type, type));
    }
}
