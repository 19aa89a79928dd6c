package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.core.host.VmTaggedLogging;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** hvctl's slf4j provider puts the VM a line concerns in front of it, once. */
class VmTaggedLogsTest {
    private static String logged(Runnable action) {
        PrintStream saved = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            action.run();
        } finally {
            System.setErr(saved);
        }
        return captured.toString(StandardCharsets.UTF_8);
    }

    @Test
    void linesLoggedDuringAVmOperationCarryTheVmIdOnce() {
        // surefire selects the provider as bin/hvctl does (slf4j.provider)
        Logger log = LoggerFactory.getLogger("io.hvspi.test.Tagging");

        String tagged = logged(() -> VmTaggedLogging.run("vm7", () -> log.warn("IOThread '{}' is slow", "io1")));
        String named = logged(() -> VmTaggedLogging.run("vm7", () -> log.warn("VM '{}': QEMU exited", "vm7")));
        String outside = logged(() -> log.warn("no VM here"));

        assertTrue(tagged.contains("vm=vm7 IOThread 'io1' is slow"), tagged);
        assertTrue(named.contains("VM 'vm7': QEMU exited") && !named.contains("vm=vm7"), named);
        assertTrue(outside.contains("no VM here") && !outside.contains("vm="), outside);
        assertEquals(VmTaggedLogs.MDC_KEY, VmTaggedLogging.KEY);
    }
}
