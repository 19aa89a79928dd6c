package io.hvspi.spi;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A block device to attach.
 *
 * @param id the device id, unique in the VM among all devices; checked against the VMM's id grammar.
 *           {@link DeviceHotplug#attach} refuses an id in use with {@link RequestRejectedException}
 *           {@code DUPLICATE_ID}, one outside the grammar with {@code INVALID_ARGUMENT}
 * @param backend what it reads and writes
 * @param format the image format ({@code raw}, {@code qcow2})
 * @param readOnly attach read-only
 * @param direct bypass the host page cache ({@code O_DIRECT})
 * @param driver the device model (e.g. {@code virtio-blk-pci}); empty for the VM's configured block driver
 * @param ioThread which IOThread(s) serve it
 * @param queues how many queues; empty for the VMM's default (Kata: one per vCPU)
 * @param queueAffinity host CPUs per queue index; needs {@link Capability#QUEUE_AFFINITY} when not empty
 */
public record BlockDeviceSpec(String id, BlockBackend backend, String format, boolean readOnly, boolean direct,
                              Optional<String> driver, IOThreadChoice ioThread, OptionalInt queues,
                              Map<Integer, List<Integer>> queueAffinity) {

    public BlockDeviceSpec {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(backend, "backend");
        Objects.requireNonNull(format, "format");
        Objects.requireNonNull(driver, "driver");
        Objects.requireNonNull(ioThread, "ioThread");
        Objects.requireNonNull(queues, "queues");
        queueAffinity = Map.copyOf(queueAffinity);
        if (queues.isPresent() && queues.getAsInt() < 1) {
            throw new IllegalArgumentException("queues must be at least 1, got " + queues.getAsInt());
        }
    }

    public static Builder builder(String id, BlockBackend backend) {
        return new Builder(id, backend);
    }

    /** A copy with another IOThread choice (used for moves). */
    public BlockDeviceSpec withIoThread(IOThreadChoice choice) {
        return new BlockDeviceSpec(id, backend, format, readOnly, direct, driver, choice, queues, queueAffinity);
    }

    /** Builds a spec with hvspi's defaults: raw, read-write, cached, configured driver, IOThread by policy. */
    public static final class Builder {
        private final String id;
        private final BlockBackend backend;
        private String format = "raw";
        private boolean readOnly;
        private boolean direct;
        private Optional<String> driver = Optional.empty();
        private IOThreadChoice ioThread = IOThreadChoice.byPolicy();
        private OptionalInt queues = OptionalInt.empty();
        private Map<Integer, List<Integer>> queueAffinity = Map.of();

        private Builder(String id, BlockBackend backend) {
            this.id = id;
            this.backend = backend;
        }

        public Builder format(String format) { this.format = format; return this; }
        public Builder readOnly(boolean readOnly) { this.readOnly = readOnly; return this; }
        public Builder direct(boolean direct) { this.direct = direct; return this; }
        public Builder driver(String driver) { this.driver = Optional.of(driver); return this; }
        public Builder ioThread(IOThreadChoice ioThread) { this.ioThread = ioThread; return this; }
        public Builder queues(int queues) { this.queues = OptionalInt.of(queues); return this; }
        public Builder queueAffinity(Map<Integer, List<Integer>> affinity) { this.queueAffinity = affinity; return this; }

        public BlockDeviceSpec build() {
            return new BlockDeviceSpec(id, backend, format, readOnly, direct, driver, ioThread, queues, queueAffinity);
        }
    }
}
