package io.hvspi.plugin.qemu.state;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.HvspiException;
import io.hvspi.spi.IOThreadInfo.Kind;
import io.hvspi.spi.IOThreadPolicy;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class QemuStateTest {
    static QemuState sample() {
        QemuSettings settings = new QemuSettings("/usr/bin/qemu-system-x86_64", "tcg", 2, true, "virtio-blk-pci",
                "io_uring", false, false, true, IOThreadPolicy.ROUND_ROBIN, true);
        DeviceState d = new DeviceState("d0", "virtio-blk-pci", "hvspi-node0", DeviceState.BACKEND_NULL, null,
                1 << 30, "raw", false, false, List.of("indep_iothread_1"), 2, "rp0", 0, false);
        return new QemuState(QemuState.FORMAT, settings, "/run/hvspi/vm/qmp.sock", false,
                List.of(new QemuState.IOThreadState("indep_iothread_0", Kind.POOL),
                        new QemuState.IOThreadState("indep_iothread_1", Kind.POOL)),
                List.of("rp0", "rp1"), false, 1, 1, List.of(d));
    }

    @Test
    void roundTripsThroughJson() {
        QemuState s = sample();
        assertEquals(s, QemuState.fromJson(s.toJson()));
        assertTrue(s.toJson().contains("\"policy\":\"ROUND_ROBIN\""), s.toJson());
    }

    @Test
    void unknownFieldsFromANewerWriterAreIgnored() {
        String json = sample().toJson().replaceFirst("\\{", "{\"futureField\":[1,2],");
        assertEquals(sample(), QemuState.fromJson(json));
    }

    @Test
    void formatOneIsReadWithNoIntentsAndNoIdentity() {
        String v1 = sample().toJson().replace("\"format\":" + QemuState.FORMAT, "\"format\":1")
                .replaceFirst(",\"intents\":\\[\\]", "").replaceFirst(",\"qemu\":null", "")
                .replaceFirst(",\"nics\":\\[\\]", "")
                .replaceFirst(",\"pins\":\\{\\}", "").replaceFirst(",\"placement\":null", "");
        QemuState read = QemuState.fromJson(v1);
        assertEquals(1, read.format());
        assertEquals(List.of(), read.intents());
        assertEquals(null, read.qemu());
        assertEquals(sample().devices(), read.devices());
    }

    @Test
    void formatTwoIsReadWithNoPinsAndNoPlacement() {
        String v2 = sample().toJson().replace("\"format\":" + QemuState.FORMAT, "\"format\":2")
                .replaceFirst(",\"pins\":\\{\\}", "").replaceFirst(",\"placement\":null", "");
        assertFalse(v2.contains("pins") || v2.contains("placement"), v2);
        QemuState read = QemuState.fromJson(v2);
        assertEquals(2, read.format());
        assertEquals(Map.of(), read.pins());
        assertNull(read.placement());
    }

    @Test
    void pinsPlacementAndPinIntentsRoundTrip() {
        QemuState s = sample().withPins(Map.of("indep_iothread_1", "1", "indep_iothread_0", "0-1"))
                .withPlacement(new QemuState.Placement("1", "/kata/io", null));
        QemuState pinning = s.with(s.devices(), s.ioThreads(), List.of(Intent.pin("indep_iothread_0", "1"),
                Intent.unpin("indep_iothread_1")), s.nextNode());
        assertEquals(pinning, QemuState.fromJson(pinning.toJson()));
        assertFalse(pinning.toJson().contains("vcpuCgroup"), "absent placement parts are left out");
    }

    @Test
    void intentsAndIdentityRoundTrip() {
        QemuState s = sample();
        DeviceState d = s.devices().get(0);
        QemuState withIntents = s.with(s.devices(), s.ioThreads(), List.of(Intent.move(d, List.of("indep_iothread_0")),
                Intent.ioThreadAdd("x1")), s.nextNode()).withQemu(new QemuState.QemuIdentity(123, "/usr/bin/qemu"));
        assertEquals(withIntents, QemuState.fromJson(withIntents.toJson()));
    }

    @Test
    void formatTwoIsReadWithNoNicsAndNicsRoundTrip() {
        String v2 = sample().toJson().replace("\"format\":" + QemuState.FORMAT, "\"format\":2").replaceFirst(",\"nics\":\\[\\]", "");
        assertEquals(List.of(), QemuState.fromJson(v2).nics());
        NicState nic = new NicState("n0", "hvspi-net-n0", "tap0", true, "02:00:00:00:00:01", 2, "rp1", false);
        QemuState s = sample().withNics(List.of(nic));
        QemuState withIntent = s.with(s.devices(), s.ioThreads(), List.of(Intent.nicAttach(nic)), s.nextNode());
        assertEquals(withIntent, QemuState.fromJson(withIntent.toJson()));
    }

    @Test
    void formatThreeIsReadAsCoveringNoLogAndTheLogPositionRoundTrips() {
        String v3 = sample().toJson().replace("\"format\":" + QemuState.FORMAT, "\"format\":3").replaceFirst(",\"intentLog\":0", "");
        assertEquals(0, QemuState.fromJson(v3).intentLog());
        QemuState s = sample().withIntents(List.of(Intent.ioThreadAdd("x1")), 41);
        assertEquals(41, QemuState.fromJson(s.toJson()).intentLog());
        assertEquals(s, QemuState.fromJson(s.toJson()));
    }

    @Test
    void formatFourIsReadAsItWasWritten() {
        String v4 = sample().toJson().replace("\"format\":" + QemuState.FORMAT, "\"format\":4");
        QemuState s = QemuState.fromJson(v4);
        assertEquals(4, s.format());
        assertEquals(sample().devices(), s.devices());
        assertEquals(sample().toJson(), s.toJson().replace("\"format\":4", "\"format\":" + QemuState.FORMAT));
    }

    @Test
    void anotherFormatOrGarbageIsAClearError() {
        String other = sample().toJson().replace("\"format\":" + QemuState.FORMAT, "\"format\":" + (QemuState.FORMAT + 1));
        assertTrue(assertThrows(HvspiException.class, () -> QemuState.fromJson(other)).getMessage()
                .contains("format " + (QemuState.FORMAT + 1)));
        assertTrue(assertThrows(HvspiException.class, () -> QemuState.fromJson("{\"format\": 1}")).getMessage()
                .startsWith("unreadable QEMU plugin state"));
        assertThrows(HvspiException.class, () -> QemuState.fromJson("not json"));
    }

    @Test
    void aDamagedFieldIsNamedOnOneLine() {
        String json = sample().toJson();
        for (String bad : List.of("\"x\"", "1.5", "-1", "99999999999999999999999")) {
            HvspiException e = assertThrows(HvspiException.class,
                    () -> QemuState.fromJson(json.replace("\"intentLog\":0", "\"intentLog\":" + bad)), bad);
            assertTrue(e.getMessage().startsWith("unreadable QEMU plugin state: "), e.getMessage());
            assertTrue(e.getMessage().contains("intentLog"), "names the field: " + e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        }
        HvspiException e = assertThrows(HvspiException.class,
                () -> QemuState.fromJson(json.replace("\"nextNode\":1", "\"nextNode\":1.5")));
        assertTrue(e.getMessage().startsWith("unreadable QEMU plugin state: field nextNode: "), e.getMessage());
    }

    /** A record without plugin state (its core gives JSON null) is corrupt in one line, not a NullPointerException. */
    @Test
    void aMissingStateIsRefusedInOneLine() {
        HvspiException e = assertThrows(HvspiException.class, () -> QemuState.fromJson("null"));
        assertEquals("unreadable QEMU plugin state: it is missing (null)", e.getMessage());
    }
}
