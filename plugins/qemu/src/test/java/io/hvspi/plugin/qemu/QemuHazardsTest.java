package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.plugin.qemu.state.QemuState;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The QEMU behaviours hvspi's design rests on (docs/iothreads.md), held against the
 * real binary: the system's here, the other Debian release's in
 * {@link QemuHazardsOnOtherQemuTest}. Raw QMP ({@code monitorCommand}) on purpose:
 * these are what hvspi avoids or guards against, so hvspi's own paths never send them.
 */
class QemuHazardsTest {
    private static final String IO0 = "indep_iothread_0";
    private static final String IO1 = "indep_iothread_1";

    @TempDir
    Path tmp;
    private DefaultHostContext host;
    private QemuHypervisor vm;

    /** The QEMU this class runs on; a subclass runs it on the other one. */
    QemuBinary qemu() {
        return QemuBinary.system();
    }

    @BeforeEach
    void start() {
        host = TestVms.host(tmp);
        vm = (QemuHypervisor) new QemuHypervisorFactory().create(
                TestVms.spec(qemu().path(), "hazards", 2, IOThreadPolicy.FIRST), host);
        vm.start();
    }

    @AfterEach
    void stop() {
        vm.stop();
    }

    private String attachedNode(String deviceId) {
        vm.requireHotplug().attach(BlockDeviceSpec.builder(deviceId, BlockBackend.nullBackend())
                .ioThread(IOThreadChoice.named(IO0)).build());
        QemuState state = TestVms.durable(host.stateStore().load("hazards").orElseThrow());
        return state.devices().stream().filter(d -> d.id().equals(deviceId)).findFirst().orElseThrow().nodeName();
    }

    private Set<String> iothreadIds() {
        Set<String> ids = new HashSet<>();
        vm.monitorCommand("query-iothreads", null).forEach(t -> ids.add(t.path("id").asText()));
        return ids;
    }

    /** Why a move is an unplug and replug: QEMU will not move an attached node, with or without force. */
    @Test
    void xBlockdevSetIothreadIsRefusedOnAnAttachedNode() {
        String node = attachedNode("d0");
        VmmException plain = assertThrows(VmmException.class, () -> vm.monitorCommand("x-blockdev-set-iothread",
                QmpClient.args().put("node-name", node).put("iothread", IO1)));
        assertTrue(plain.vmmMessage().contains("is associated with a BlockBackend"), plain.vmmMessage());
        VmmException forced = assertThrows(VmmException.class, () -> vm.monitorCommand("x-blockdev-set-iothread",
                QmpClient.args().put("node-name", node).put("iothread", IO1).put("force", true)));
        assertTrue(forced.vmmMessage().contains("Cannot change iothread of active block backend"),
                forced.vmmMessage());
    }

    /**
     * A free node moved with {@code x-blockdev-set-iothread}, then plugged into a device on
     * another IOThread: QEMU 7.2 aborts (the whole VM is lost); QEMU 10 accepts it.
     */
    @Test
    void aNodeMovedByXBlockdevSetIothreadThenPluggedElsewhereKillsQemu72() {
        vm.monitorCommand("blockdev-add", QmpClient.args().put("driver", "null-co").put("node-name", "moved"));
        vm.monitorCommand("x-blockdev-set-iothread", QmpClient.args().put("node-name", "moved").put("iothread", IO1));
        var plug = QmpClient.args().put("driver", "virtio-blk-pci").put("id", "elsewhere").put("drive", "moved")
                .put("iothread", IO0).put("bus", "rp0");
        if (qemu().version().atLeast(10, 0)) { // measured on 7.2 and 10.0 only
            vm.monitorCommand("device_add", plug);
            assertEquals("/objects/" + IO0, vm.monitorCommand("qom-get", QmpClient.args()
                    .put("path", "/machine/peripheral/elsewhere").put("property", "iothread")).asText());
        } else {
            VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                    () -> vm.monitorCommand("device_add", plug));
            assertEquals(VmmUnavailableException.Reason.EXITED, e.reason(), e.getMessage());
        }
    }

    /** Why hvspi refuses to remove an IOThread a device uses: QEMU itself does not (7.2 and 10 alike). */
    @Test
    void qemuDeletesAnIOThreadThatADeviceUses() {
        attachedNode("d1");
        assertTrue(iothreadIds().contains(IO0));
        vm.monitorCommand("object-del", QmpClient.args().put("id", IO0));
        assertFalse(iothreadIds().contains(IO0), "QEMU removed the IOThread under the device");
    }

    /**
     * {@code query-iothreads} fields: {@code aio-max-batch} (QEMU 6.1) is there on 7.2 and 10
     * alike, and hvspi's pool reads its thread ids from the same reply.
     */
    @Test
    void queryIothreadsReportsTheSameFieldsAndHvspiReadsTheThreadIds() {
        JsonNode live = vm.monitorCommand("query-iothreads", null);
        assertEquals(2, live.size());
        for (JsonNode t : live) {
            Set<String> fields = new HashSet<>();
            t.fieldNames().forEachRemaining(fields::add);
            assertEquals(Set.of("id", "thread-id", "poll-max-ns", "poll-grow", "poll-shrink", "aio-max-batch"),
                    fields, "on " + qemu());
        }
        List<Long> fromQemu = new java.util.ArrayList<>();
        live.forEach(t -> fromQemu.add(t.path("thread-id").asLong()));
        long pid = host.stateStore().load("hazards").orElseThrow().pid();
        for (var info : vm.requireIoThreads().list()) {
            long tid = info.hostThreadId().orElseThrow();
            assertTrue(fromQemu.contains(tid), info.id() + " " + tid + " is in " + fromQemu);
            assertTrue(Path.of("/proc", Long.toString(pid), "task", Long.toString(tid)).toFile().isDirectory(),
                    "thread " + tid + " of QEMU " + pid + " exists on the host (shared pid namespace)");
        }
    }
}
