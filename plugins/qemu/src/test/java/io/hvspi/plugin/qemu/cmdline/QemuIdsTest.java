package io.hvspi.plugin.qemu.cmdline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.RequestRejectedException;
import org.junit.jupiter.api.Test;

class QemuIdsTest {
    @Test
    void qemusIdGrammarIsALetterThenLettersDigitsDashDotUnderscore() {
        for (String ok : new String[] {"a", "indep_iothread_0", "scsi-io-thread", "d.1", "Z9"}) {
            assertTrue(QemuIds.isValid(ok), ok);
        }
        for (String bad : new String[] {"", "0a", "_a", "-a", "a,b", "a=b", "a b", "a/b", "é", "a\n"}) {
            assertFalse(QemuIds.isValid(bad), bad);
        }
        assertFalse(QemuIds.isValid(null));
    }

    @Test
    void checkNamesWhatTheIdWasFor() {
        RequestRejectedException e = assertThrows(RequestRejectedException.class, () -> QemuIds.check("1x", "device"));
        assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT, e.reason());
        assertTrue(e.getMessage().startsWith("invalid device id '1x'"), e.getMessage());
    }

    @Test
    void nodeNamesAreLimitedTo31Characters() {
        assertEquals("n".repeat(31), QemuIds.checkNodeName("n".repeat(31)));
        assertThrows(RequestRejectedException.class, () -> QemuIds.checkNodeName("n".repeat(32)));
    }

    @Test
    void optionValuesDoubleTheirCommas() {
        assertEquals("file,id=c,path=/a,,b,,,,c", OptionList.of("file").with("id", "c").with("path", "/a,b,,c")
                .toString());
        assertEquals("chardev=qmp,mode=control", OptionList.keys().with("chardev", "qmp").with("mode", "control")
                .toString());
        assertEquals("x,on=on,off=off,n=3", OptionList.of("x").with("on", true).with("off", false).with("n", 3)
                .toString());
    }
}
