package io.hvspi.plugin.qemu.state;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.HvspiException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The operations in flight of one session, and the log lines that begin and end them. */
class PendingIntentsTest {
    @TempDir
    Path dir;

    private static DeviceState disk(String id) {
        return new DeviceState(id, "virtio-blk-pci", "hvspi-node0", DeviceState.BACKEND_NULL, null, 1 << 30, "raw",
                false, false, List.of("indep_iothread_0"), 1, "rp0", 0, false);
    }

    @Test
    void anAttachBegunAndFinishedLeavesTwoLinesOfTheSameIntentAndNothingInFlight() throws Exception {
        Path file = Files.createFile(dir.resolve("intents.log"));
        try (PendingIntents intents = new PendingIntents(new Object(), new IntentLog(file, 0))) {
            Intent attach = Intent.attach(disk("d0"));
            intents.beginLogged(attach);
            intents.beginLogged(Intent.ioThreadAdd("x1"));
            assertEquals(List.of(attach, Intent.ioThreadAdd("x1")), intents.list());

            assertFalse(intents.finish(attach, 1L), "a small log asks for no save");
            assertEquals(List.of(Intent.ioThreadAdd("x1")), intents.list());
            IntentLog.Pending read = IntentLog.read(file, 0);
            assertEquals(List.of(attach), read.finished());
            assertEquals(List.of(Intent.ioThreadAdd("x1")), read.intents());
            assertFalse(intents.end(attach), "ended once");
        }
    }

    @Test
    void anIntentTheLogCannotTakeIsNotRecordedAndAnotherIntentAboutTheSameThingIsNotItsOwn() throws Exception {
        Path file = Files.createFile(dir.resolve("intents.log"));
        try (PendingIntents intents = new PendingIntents(new Object(), new IntentLog(file, 0))) {
            Intent move = Intent.move(disk("d0"), List.of("indep_iothread_1"));
            intents.beginLogged(move);
            Intent detach = Intent.detach(disk("d0"));
            assertFalse(intents.end(detach), "another intent about d0 does not end the move");
            intents.replace(move, detach);
            assertEquals(List.of(detach), intents.list());
            assertTrue(intents.end(detach));
        }
        Path gone = dir.resolve("gone");
        Files.createDirectory(gone);
        try (PendingIntents intents = new PendingIntents(new Object(), new IntentLog(gone.resolve("intents.log"), 0))) {
            Files.delete(gone);
            assertThrows(HvspiException.class, () -> intents.beginLogged(Intent.ioThreadAdd("x1")));
            assertEquals(List.of(), intents.list(), "the operation must not start, and nothing says it did");
        }
    }
}
