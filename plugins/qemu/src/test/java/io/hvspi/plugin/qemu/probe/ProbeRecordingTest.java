package io.hvspi.plugin.qemu.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.hvspi.plugin.qemu.QemuHypervisor;
import io.hvspi.plugin.qemu.QemuHypervisorFactory;
import io.hvspi.plugin.qemu.TestVms;
import io.hvspi.spi.IOThreadPolicy;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The recorded replies of the installed QEMU's major.minor (7.2 on Debian 12, 10.0 on
 * Debian 13) still describe the installed binary: if Debian ships another build,
 * re-record them with {@link ProbeRecorder} (see {@code src/test/resources/probe/README.md}).
 */
class ProbeRecordingTest {
    @TempDir
    Path tmp;

    @Test
    void theInstalledQemuAnswersAsRecorded() {
        QemuHypervisor vm = (QemuHypervisor) new QemuHypervisorFactory().create(
                TestVms.spec("probe", 0, IOThreadPolicy.FIRST), TestVms.host(tmp));
        try {
            vm.start();
            ProbeResult live = vm.probe().orElseThrow();
            String version = RecordedReplies.recordedFor(live.version()).orElseThrow(() -> new AssertionError(
                    "no recorded replies for QEMU " + live.version() + " in src/test/resources/probe: record them"
                            + " with ProbeRecorder (see the README there)"));
            ProbeResult recorded = QemuProbe.probe(RecordedReplies.replay(version));
            // the micro version moves with Debian's security updates; the interface must not
            assertEquals(recorded.version().major(), live.version().major());
            assertEquals(recorded.version().minor(), live.version().minor());
            assertEquals(recorded.commands(), live.commands());
            assertEquals(recorded.virtioBlkProperties(), live.virtioBlkProperties());
        } finally {
            vm.stop();
        }
    }
}
