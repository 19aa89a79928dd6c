package io.hvspi.core.host;

import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.CpuSet;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadInfo;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.NetDevice;
import io.hvspi.spi.NetDeviceSpec;
import io.hvspi.spi.NetworkHotplug;
import io.hvspi.spi.PollingParams;
import java.time.Duration;
import java.util.List;

/**
 * A VM's hotplug and IOThread views as {@link VmHandle} hands them out: every change
 * runs through {@link VmHandle#whileRunning}, so a stop through the handle (close, or
 * the JVM's exit on a signal) waits for a change in flight, including the plugin's
 * write of the VM's record, and refuses later ones. Without that, an attach finishing
 * after the stop removed the runtime directory would write the record back into a new one.
 * Reads pass straight through. (A method the SPI adds as a default in a minor version
 * runs the interface's default here until it is delegated too.)
 */
final class GuardedViews {
    private GuardedViews() {}

    record Hotplug(DeviceHotplug delegate, VmHandle handle) implements DeviceHotplug {
        @Override
        public BlockDevice attach(BlockDeviceSpec spec) {
            return timed("attach", () -> delegate.attach(spec));
        }

        @Override
        public void detach(String deviceId, Duration timeout) {
            timed("detach", () -> {
                delegate.detach(deviceId, timeout);
                return null;
            });
        }

        /** Runs a change under the handle's guard and records its latency, and its error by kind. */
        private <T> T timed(String operation, java.util.function.Supplier<T> change) {
            long start = System.nanoTime();
            try {
                T result = handle.whileRunning(change);
                handle.metrics().hotplug(handle.type(), operation, Duration.ofNanos(System.nanoTime() - start),
                        java.util.Optional.empty());
                return result;
            } catch (RuntimeException e) {
                handle.metrics().hotplug(handle.type(), operation, Duration.ofNanos(System.nanoTime() - start),
                        java.util.Optional.of(e));
                handle.metrics().error(handle.type(), operation, e);
                throw e;
            }
        }

        @Override
        public List<BlockDevice> list() {
            return delegate.list();
        }

        @Override
        public BlockDevice move(String deviceId, IOThreadChoice target) {
            return timed("move", () -> delegate.move(deviceId, target));
        }
    }

    record IoThreads(IOThreadProvider delegate, VmHandle handle) implements IOThreadProvider {
        @Override
        public List<IOThreadInfo> list() {
            return delegate.list();
        }

        @Override
        public IOThreadPolicy policy() {
            return delegate.policy();
        }

        @Override
        public String choose() {
            return delegate.choose();
        }

        @Override
        public IOThreadInfo add(String id) {
            return handle.whileRunning(() -> delegate.add(id));
        }

        @Override
        public void remove(String id) {
            handle.whileRunning(() -> {
                delegate.remove(id);
                return null;
            });
        }

        @Override
        public void setPolling(String id, PollingParams polling) {
            handle.whileRunning(() -> {
                delegate.setPolling(id, polling);
                return null;
            });
        }

        @Override
        public IOThreadInfo pin(String id, CpuSet cpus) {
            return handle.whileRunning(() -> delegate.pin(id, cpus));
        }

        @Override
        public IOThreadInfo unpin(String id) {
            return handle.whileRunning(() -> delegate.unpin(id));
        }
    }

    record Network(NetworkHotplug delegate, VmHandle handle) implements NetworkHotplug {
        @Override
        public NetDevice attach(NetDeviceSpec spec) {
            return handle.whileRunning(() -> delegate.attach(spec));
        }

        @Override
        public void detach(String deviceId, Duration timeout) {
            handle.whileRunning(() -> {
                delegate.detach(deviceId, timeout);
                return null;
            });
        }

        @Override
        public List<NetDevice> list() {
            return delegate.list();
        }
    }
}
