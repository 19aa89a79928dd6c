package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.IOThreadPolicy;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Kata's {@code first} and hvspi's {@code round-robin}, read back from QEMU. */
class PlacementPolicyTest {
    @TempDir
    Path tmp;

    private List<String> placeFiveDisks(IOThreadPolicy policy) {
        QemuHypervisor vm = (QemuHypervisor) new QemuHypervisorFactory().create(
                TestVms.spec("policy", 4, policy), TestVms.host(tmp));
        try {
            vm.start();
            List<String> threads = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                vm.requireHotplug().attach(BlockDeviceSpec.builder("d" + i, BlockBackend.nullBackend()).build());
                String path = vm.monitorCommand("qom-get", QmpClient.args().put("path", "/machine/peripheral/d" + i)
                        .put("property", "iothread")).asText();
                threads.add(path.substring(path.lastIndexOf('/') + 1));
            }
            return threads;
        } finally {
            vm.stop();
        }
    }

    @Test
    void firstPutsEveryDiskOnIndepIothread0LikeKata() {
        assertEquals(List.of("indep_iothread_0", "indep_iothread_0", "indep_iothread_0", "indep_iothread_0",
                "indep_iothread_0"), placeFiveDisks(IOThreadPolicy.FIRST));
    }

    @Test
    void roundRobinTakesThePoolInTurn() {
        assertEquals(List.of("indep_iothread_0", "indep_iothread_1", "indep_iothread_2", "indep_iothread_3",
                "indep_iothread_0"), placeFiveDisks(IOThreadPolicy.ROUND_ROBIN));
    }
}
