package io.hvspi.plugin.qemu.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.plugin.qemu.qmp.QemuVersion;
import io.hvspi.spi.Capability;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Effective capabilities from replies recorded from real binaries: QEMU 7.2 (Debian 12) and 10.0 (Debian 13). */
class QemuProbeReplayTest {
    private static final Set<Capability> DECLARED = EnumSet.of(Capability.BLOCK_DEVICE,
            Capability.BLOCK_DEVICE_HOTPLUG, Capability.BLOCK_DEVICE_DISCARD, Capability.MULTI_QUEUE,
            Capability.NETWORK_DEVICE_HOTPLUG, Capability.INDEPENDENT_IOTHREADS,
            Capability.IOTHREAD_RUNTIME_ADD, Capability.IOTHREAD_POLLING, Capability.IOTHREAD_VQ_MAPPING,
            Capability.IOTHREAD_MOVE, Capability.IOTHREAD_PINNING);

    @Test
    void qemu72HasEverythingButVqMapping() {
        ProbeResult p = QemuProbe.probe(RecordedReplies.replay(RecordedReplies.QEMU_7_2));
        assertEquals(new QemuVersion(7, 2, 22), p.version());
        assertTrue(p.virtioBlkProperties().containsAll(Set.of("iothread", "num-queues", "drive", "discard")));
        assertFalse(p.hasVqMapping());
        Set<Capability> expected = EnumSet.copyOf(DECLARED);
        expected.remove(Capability.IOTHREAD_VQ_MAPPING);
        assertEquals(expected, p.narrow(DECLARED));
    }

    @Test
    void qemu10AddsVqMapping() {
        ProbeResult p = QemuProbe.probe(RecordedReplies.replay(RecordedReplies.QEMU_10_0));
        assertEquals(new QemuVersion(10, 0, 13), p.version());
        assertTrue(p.hasVqMapping());
        assertEquals(DECLARED, p.narrow(DECLARED));
    }

    @Test
    void narrowingNeverAddsWhatWasNotDeclared() {
        ProbeResult p = QemuProbe.probe(RecordedReplies.replay(RecordedReplies.QEMU_10_0));
        assertEquals(EnumSet.of(Capability.INDEPENDENT_IOTHREADS),
                p.narrow(EnumSet.of(Capability.INDEPENDENT_IOTHREADS, Capability.QUEUE_AFFINITY)));
    }

    @Test
    void aBinaryWithoutIOThreadsLosesTheWholeFamily() {
        ProbeResult p72 = QemuProbe.probe(RecordedReplies.replay(RecordedReplies.QEMU_7_2));
        Set<String> props = new HashSet<>(p72.virtioBlkProperties());
        props.remove("iothread");
        ProbeResult old = new ProbeResult(new QemuVersion(2, 0, 0), "", p72.commands(), props);
        Set<Capability> effective = old.narrow(DECLARED);
        for (Capability c : EnumSet.of(Capability.INDEPENDENT_IOTHREADS, Capability.IOTHREAD_RUNTIME_ADD,
                Capability.IOTHREAD_POLLING, Capability.IOTHREAD_VQ_MAPPING, Capability.IOTHREAD_MOVE,
                Capability.IOTHREAD_PINNING)) {
            assertFalse(effective.contains(c), c.key());
        }
        assertTrue(effective.contains(Capability.BLOCK_DEVICE_HOTPLUG));
    }
}
