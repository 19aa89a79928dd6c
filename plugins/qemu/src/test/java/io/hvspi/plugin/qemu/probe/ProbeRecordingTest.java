package io.hvspi.plugin.qemu.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.hvspi.plugin.qemu.QemuBinary;
import io.hvspi.plugin.qemu.QemuHypervisor;
import io.hvspi.plugin.qemu.QemuHypervisorFactory;
import io.hvspi.plugin.qemu.TestVms;
import io.hvspi.spi.Capability;
import io.hvspi.spi.IOThreadPolicy;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The recorded replies of each real QEMU's major.minor (the system's, 7.2 on Debian 12
 * or 10.0 on Debian 13, and the other release's) still describe that binary: if Debian
 * ships another build, re-record them with {@link ProbeRecorder} (see
 * {@code src/test/resources/probe/README.md}). And the effective capabilities a VM
 * reports on each are the ones its version has.
 */
class ProbeRecordingTest {
    /** Every capability the QEMU plugin declares and the probe keeps on both 7.2 and 10.0. */
    private static final Set<Capability> ON_BOTH = EnumSet.of(Capability.BLOCK_DEVICE,
            Capability.BLOCK_DEVICE_HOTPLUG, Capability.BLOCK_DEVICE_DISCARD, Capability.MULTI_QUEUE,
            Capability.NETWORK_DEVICE_HOTPLUG, Capability.INDEPENDENT_IOTHREADS,
            Capability.IOTHREAD_RUNTIME_ADD, Capability.IOTHREAD_POLLING, Capability.IOTHREAD_MOVE,
            Capability.IOTHREAD_PINNING);

    @TempDir
    Path tmp;

    @Test
    void theSystemQemuAnswersAsRecordedAndHasItsVersionsCapabilities() {
        check(QemuBinary.system());
    }

    @Test
    void theOtherQemuAnswersAsRecordedAndHasItsVersionsCapabilities() {
        check(QemuBinary.other());
    }

    private void check(QemuBinary qemu) {
        QemuHypervisor vm = (QemuHypervisor) new QemuHypervisorFactory().create(
                TestVms.spec(qemu.path(), "probe", 2, IOThreadPolicy.FIRST), TestVms.host(tmp));
        try {
            vm.start();
            ProbeResult live = vm.probe().orElseThrow();
            assertEquals(qemu.version(), live.version(), "the probe's version is what " + qemu + " --version says");
            String version = RecordedReplies.recordedFor(live.version()).orElseThrow(() -> new AssertionError(
                    "no recorded replies for QEMU " + live.version() + " in src/test/resources/probe: record them"
                            + " with ProbeRecorder (see the README there)"));
            ProbeResult recorded = QemuProbe.probe(RecordedReplies.replay(version));
            // the micro version moves with Debian's security updates; the interface must not
            assertEquals(recorded.version().major(), live.version().major());
            assertEquals(recorded.version().minor(), live.version().minor());
            assertEquals(recorded.commands(), live.commands());
            assertEquals(recorded.virtioBlkProperties(), live.virtioBlkProperties());

            Set<Capability> expected = EnumSet.copyOf(ON_BOTH);
            if (qemu.hasVqMapping()) {
                expected.add(Capability.IOTHREAD_VQ_MAPPING);
            }
            assertEquals(expected, vm.capabilities(), "effective capabilities on " + qemu);
        } finally {
            vm.stop();
        }
    }
}
