package io.hvspi.plugin.qemu;

import static io.hvspi.spi.Capability.*;

import io.hvspi.plugin.qemu.cmdline.QemuCommandLine;
import io.hvspi.plugin.qemu.cmdline.QemuIds;
import io.hvspi.kit.threads.ThreadAffinity;
import io.hvspi.plugin.qemu.process.RuntimeLayout;
import io.hvspi.spi.Capability;
import io.hvspi.spi.ConfigException;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.VmEvent;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import org.pf4j.Extension;

/**
 * QEMU, driven over QMP, with Kata's independent IOThread pool and hvspi's
 * placement policies. {@link #create} validates a {@link VmSpec} and returns a
 * {@link QemuHypervisor} that starts nothing until {@code start()};
 * {@link #reattach} connects to a VM another process started.
 *
 * <p>Host options: {@code endpoint} connects to that QMP socket instead of
 * spawning QEMU (a QMP simulator, or a QEMU started by someone else).
 */
@Extension
public final class QemuHypervisorFactory implements HypervisorFactory {
    /** The Kata table key. */
    public static final String TYPE = "qemu";

    /**
     * Kata's QEMU bits (runtime-rs, plus the Go runtime's multi-queue) and the IOThread family,
     * less what the kit cannot exercise yet: fs sharing (virtio-fs) has no SPI operation, so it is
     * not declared until one exists (a bundled plugin declares only what the kit checks).
     */
    static final Set<Capability> DECLARED = Set.copyOf(EnumSet.of(
            BLOCK_DEVICE, BLOCK_DEVICE_HOTPLUG, BLOCK_DEVICE_DISCARD, MULTI_QUEUE, NETWORK_DEVICE_HOTPLUG,
            INDEPENDENT_IOTHREADS, IOTHREAD_RUNTIME_ADD, IOTHREAD_POLLING, IOTHREAD_VQ_MAPPING,
            IOTHREAD_MOVE, IOTHREAD_PINNING));

    @Override
    public String type() {
        return TYPE;
    }

    @Override
    public String description() {
        return "QEMU over QMP, with independent IOThreads";
    }

    @Override
    public Set<Capability> declaredCapabilities() {
        return DECLARED;
    }

    @Override
    public Hypervisor create(VmSpec spec, HostContext host) {
        // a spec that did not come through a Kata config may still say auto: the same rule as the host's
        VmSpec concrete = "auto".equals(spec.accel()) ? spec.toBuilder().accel(kvmUsable() ? "kvm" : "tcg").build()
                : spec;
        validate(concrete, host.option("endpoint").isPresent());
        return QemuHypervisor.create(concrete, host);
    }

    @Override
    public Hypervisor reattach(VmRecord record, HostContext host) {
        return QemuHypervisor.reattach(record, host);
    }

    @Override
    public Hypervisor.Subscription follow(VmRecord record, HostContext host, Consumer<VmEvent> listener) {
        return EventFollower.follow(record, host, listener);
    }

    @Override
    public Map<String, Path> logFiles(VmRecord record) {
        RuntimeLayout layout = new RuntimeLayout(record.runtimeDir());
        return Map.of("vmm", layout.qemuLog(), "console", layout.consoleLog());
    }

    private static final Path KVM_DEVICE = Path.of("/dev/kvm");

    private static boolean kvmUsable() {
        return Files.isReadable(KVM_DEVICE) && Files.isWritable(KVM_DEVICE);
    }

    /** Refuses what QEMU cannot run as asked, naming the Kata key. */
    static void validate(VmSpec spec, boolean endpoint) {
        QemuIds.check(spec.vmId(), "VM");
        if (!endpoint && !Files.isExecutable(spec.binary())) {
            throw problem("path", "QEMU binary " + spec.binary() + " does not exist or is not executable");
        }
        if (!"q35".equals(spec.machineType())) {
            throw problem("machine_type", "hvspi's QEMU plugin hotplugs onto PCIe root ports and needs q35, got '"
                    + spec.machineType() + "'");
        }
        if (!"kvm".equals(spec.accel()) && !"tcg".equals(spec.accel())) {
            throw problem("accel", "expected auto, kvm or tcg, got '" + spec.accel() + "'");
        }
        // an explicit kvm without KVM fails here, in one line, not as QEMU's own exit after spawn
        if (!endpoint && "kvm".equals(spec.accel()) && !kvmUsable()) {
            throw problem("accel", "kvm, but " + KVM_DEVICE + " is " + (Files.exists(KVM_DEVICE) ? "not usable by"
                    + " this user" : "missing") + " on this host; use accel = \"auto\" or \"tcg\" (hvctl run --accel tcg)");
        }
        if (spec.vcpus() < 1) {
            throw problem("default_vcpus", "expected at least 1, got " + spec.vcpus());
        }
        if (spec.memoryMib() < 16) {
            throw problem("default_memory", "expected at least 16 (MiB), got " + spec.memoryMib());
        }
        if (spec.ioThreads().independent() < 0) {
            throw problem("indep_iothreads", "expected 0 or more, got " + spec.ioThreads().independent());
        }
        if (spec.hotplugSlots() < 0 || spec.hotplugSlots() > QemuCommandLine.MAX_ROOT_PORTS) {
            throw problem("hotplug_slots", "expected 0 to " + QemuCommandLine.MAX_ROOT_PORTS
                    + " root ports (eight per slot on eight pcie.0 slots), got " + spec.hotplugSlots());
        }
        // a spec built by hand skips the config's check of the same rule
        spec.placement().ioThreadCpus().ifPresent(cpus -> {
            if (!cpus.isSubsetOf(ThreadAffinity.hostCpus())) {
                throw problem("indep_iothreads_cpus", cpus + " names CPUs " + cpus.missingFrom(ThreadAffinity.hostCpus())
                        + " that this host does not have (online: " + ThreadAffinity.hostCpus() + ")");
            }
        });
        checkGuestFiles(spec);
    }

    /**
     * Refuses a kernel, initrd or image that is not a regular file. {@code create}
     * checks it, and {@code start} again: a file removed in between must fail before
     * QEMU is spawned, not as QEMU's own exit.
     */
    static void checkGuestFiles(VmSpec spec) {
        checkFile("kernel", spec.kernel());
        checkFile("initrd", spec.initrd());
        checkFile("image", spec.image());
    }

    private static void checkFile(String key, Optional<Path> file) {
        if (file.isPresent() && !Files.isRegularFile(file.get())) {
            throw problem(key, file.get() + " does not exist or is not a regular file");
        }
    }

    private static ConfigException problem(String key, String problem) {
        return new ConfigException(null, 0, 0, "hypervisor.qemu." + key, problem);
    }
}
