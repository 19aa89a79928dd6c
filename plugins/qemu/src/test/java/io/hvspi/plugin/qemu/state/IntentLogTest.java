package io.hvspi.plugin.qemu.state;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.HvspiException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IntentLogTest {
    @TempDir
    Path dir;

    private Path file() {
        return dir.resolve("intents.log");
    }

    /** A log as its VM's session makes it: the file exists (0600) before the first append. */
    private IntentLog log(long lastSeq) throws Exception {
        if (!Files.exists(file(), java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            Files.createFile(file(), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        }
        return new IntentLog(file(), lastSeq);
    }

    private static DeviceState disk(String id) {
        return new DeviceState(id, "virtio-blk-pci", "hvspi-node0", DeviceState.BACKEND_NULL, null, 1 << 30, "raw",
                false, false, List.of("indep_iothread_0"), 1, "rp0", 0, false);
    }

    @Test
    void linesAboveTheRecordsPositionAreTheIntentsInFlightInOrder() throws Exception {
        IntentLog log = log(7);
        log.append(Intent.attach(disk("d0")));
        log.append(Intent.ioThreadAdd("x1"));
        log.append(Intent.move(disk("d1"), List.of("indep_iothread_1")));
        assertEquals(10, log.lastSeq());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file())),
                "appending keeps the file's mode");

        IntentLog.Pending all = IntentLog.read(file(), 7);
        assertEquals(List.of(Intent.attach(disk("d0")), Intent.ioThreadAdd("x1"),
                Intent.move(disk("d1"), List.of("indep_iothread_1"))), all.intents());
        assertEquals(10, all.lastSeq());
        assertTrue(all.dirty());

        IntentLog.Pending rest = IntentLog.read(file(), 9);
        assertEquals(List.of(Intent.move(disk("d1"), List.of("indep_iothread_1"))), rest.intents(),
                "lines the record covers are history");
        IntentLog.Pending none = IntentLog.read(file(), 10);
        assertEquals(List.of(), none.intents());
        assertEquals(10, none.lastSeq());
        assertFalse(none.dirty(), "history alone needs no save at reattach");
    }

    @Test
    void anAttachsOutcomeLineFinishesItsIntentAndIsReplayedOntoTheRecord() throws Exception {
        NicState nic = new NicState("n0", "hvspi-net-n0", "tap0", false, "02:00:00:00:00:01", 1, "rp1", false);
        // the record's save caught an attach of d9 in flight; its outcome came after the save
        QemuState recorded = QemuStateTest.sample().withIntents(List.of(Intent.ioThreadAdd("x0"),
                Intent.attach(disk("d9"))), 4);
        IntentLog log = log(4);
        byte[] d0 = log.append(Intent.attach(disk("d0")));
        log.append(Intent.ioThreadAdd("x1"));
        log.appendDone(Intent.attach(disk("d0")), d0, 3L);
        byte[] n0 = log.append(Intent.nicAttach(nic));
        log.appendDone(Intent.nicAttach(nic), n0, null);
        log.appendDone(Intent.attach(disk("d9")), IntentLog.encode(Intent.attach(disk("d9"))), 5L);

        IntentLog.Pending p = IntentLog.read(file(), 4);
        assertEquals(List.of(Intent.ioThreadAdd("x1")), p.intents(), "only the operation without an outcome");
        assertEquals(List.of(Intent.attach(disk("d0")), Intent.nicAttach(nic), Intent.attach(disk("d9"))),
                p.finished());
        assertEquals(5, p.policyTurn(), "the last outcome that placed a disk");
        assertEquals(10, p.lastSeq());
        assertTrue(p.dirty());

        QemuState state = p.applyTo(recorded);
        assertEquals(List.of("d0", "d9"), state.devices().stream().map(DeviceState::id).toList());
        assertEquals(List.of(nic), state.nics());
        assertEquals(List.of(Intent.ioThreadAdd("x0"), Intent.ioThreadAdd("x1")), state.intents());
        assertEquals(5, state.policyTurn());
        assertEquals(10, state.intentLog());
        assertEquals(state, IntentLog.read(file(), 10).applyTo(state), "applying a covered log changes nothing");

        IntentLog.Pending rest = IntentLog.read(file(), 7);
        assertEquals(List.of(Intent.nicAttach(nic), Intent.attach(disk("d9"))), rest.finished(),
                "an outcome the record covers is history");
    }

    @Test
    void linesAreWhatTheMapperWritesForThem() throws Exception {
        NicState nic = new NicState("n0", "hvspi-net-n0", "tap0", true, "02:00:00:00:00:01", 2, "rp1", false);
        DeviceState path = new DeviceState("d2", "scsi-hd", "hvspi-node7", DeviceState.BACKEND_PATH, "/srv/a b\\c.img",
                0, "qcow2", true, true, List.of(), 4, "scsi0.0", 3, true);
        for (Intent intent : List.of(Intent.attach(disk("d\u00e9\"0")), Intent.nicAttach(nic), Intent.ioThreadAdd("x1"),
                Intent.move(disk("d1"), List.of("indep_iothread_1", "indep_iothread_2")), Intent.detach(path),
                Intent.pin("indep_iothread_0", "0-3,6"), Intent.nicAttach(nic.withUnplugging(true)))) {
            byte[] json = IntentLog.encode(intent);
            assertEquals(QemuState.JSON.writeValueAsString(intent), new String(json, StandardCharsets.UTF_8));
            assertEquals(QemuState.JSON.writeValueAsString(new IntentLog.Line(12, intent, null, null)) + "\n",
                    new String(IntentLog.line(12, "intent", json, null), StandardCharsets.UTF_8));
            for (Long turn : java.util.Arrays.asList(7L, null)) {
                assertEquals(QemuState.JSON.writeValueAsString(new IntentLog.Line(13, null, intent, turn)) + "\n",
                        new String(IntentLog.line(13, "done", json, turn), StandardCharsets.UTF_8));
            }
        }
    }

    @Test
    void onlyAttachesEndWithAnOutcomeLine() throws Exception {
        IntentLog log = log(0);
        assertThrows(IllegalArgumentException.class, () -> log.appendDone(Intent.ioThreadAdd("x1"),
                IntentLog.encode(Intent.ioThreadAdd("x1")), null));
        assertEquals(0, log.lastSeq());
        Files.writeString(file(), "{\"seq\":1,\"done\":{\"op\":\"IOTHREAD_ADD\",\"id\":\"a\"}}\n");
        assertTrue(assertThrows(HvspiException.class, () -> IntentLog.read(file(), 0)).getMessage()
                .contains("line 1: an outcome of IOTHREAD_ADD, which ends with a record save"));
        Files.writeString(file(), "{\"seq\":1,\"intent\":{\"op\":\"IOTHREAD_ADD\",\"id\":\"a\"},"
                + "\"done\":{\"op\":\"IOTHREAD_ADD\",\"id\":\"a\"}}\n");
        assertTrue(assertThrows(HvspiException.class, () -> IntentLog.read(file(), 0)).getMessage()
                .contains("line 1: not a numbered intent or outcome"));
        Files.writeString(file(), "{\"seq\":1,\"done\":" + QemuState.JSON.writeValueAsString(Intent.attach(disk("d0")))
                + ",\"policyTurn\":-2}\n");
        assertTrue(assertThrows(HvspiException.class, () -> IntentLog.read(file(), 0)).getMessage()
                .contains("line 1: policyTurn is -2"));
    }

    @Test
    void theLogAsksForCompactionOnceItHasGrown() throws Exception {
        IntentLog log = log(0);
        while (!log.wantsCompaction()) {
            log.appendDone(Intent.attach(disk("d0")), log.append(Intent.attach(disk("d0"))), 1L);
        }
        assertTrue(Files.size(file()) >= IntentLog.COMPACT_BYTES);
        log.covered(false);
        assertEquals(0, Files.size(file()));
        assertFalse(log.wantsCompaction());
    }

    @Test
    void anAppendNeverCreatesTheFileSoARemovedDirectoryStaysRemoved() throws Exception {
        Path gone = dir.resolve("gone");
        Files.createDirectory(gone);
        IntentLog log = new IntentLog(gone.resolve("intents.log"), 0);
        Files.delete(gone);
        HvspiException e = assertThrows(HvspiException.class, () -> log.append(Intent.ioThreadAdd("x1")));
        assertTrue(e.getMessage().startsWith("cannot log intent of IOTHREAD_ADD 'x1'"), e.getMessage());
        assertFalse(Files.exists(gone));
        assertEquals(0, log.lastSeq(), "a line not written is not counted");
    }

    @Test
    void noFileMeansNothingInFlight() {
        IntentLog.Pending p = IntentLog.read(file(), 3);
        assertEquals(List.of(), p.intents());
        assertEquals(3, p.lastSeq());
        assertFalse(p.dirty());
    }

    @Test
    void aTornLastLineIsAnAppendThatNeverReturnedAndIsIgnored() throws Exception {
        IntentLog log = log(0);
        log.append(Intent.ioThreadAdd("x1"));
        Files.writeString(file(), "{\"seq\":2,\"intent\":{\"op\":\"IOTHREAD_A", StandardOpenOption.APPEND);
        IntentLog.Pending p = IntentLog.read(file(), 0);
        assertEquals(List.of(Intent.ioThreadAdd("x1")), p.intents());
        assertEquals(1, p.lastSeq());
        assertTrue(p.dirty(), "the torn bytes must go before the next append");
    }

    @Test
    void aDamagedLineIsAnErrorNamingTheFileAndTheLine() throws Exception {
        IntentLog log = log(0);
        log.append(Intent.ioThreadAdd("x1"));
        Files.writeString(file(), "garbage\n", StandardOpenOption.APPEND);
        log.append(Intent.ioThreadAdd("x2"));
        HvspiException e = assertThrows(HvspiException.class, () -> IntentLog.read(file(), 0));
        assertTrue(e.getMessage().startsWith("corrupt intent log " + file() + " line 2: "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());

        Files.writeString(file(), "{\"seq\":5,\"intent\":{\"op\":\"IOTHREAD_ADD\",\"id\":\"a\"}}\n"
                + "{\"seq\":5,\"intent\":{\"op\":\"IOTHREAD_ADD\",\"id\":\"b\"}}\n");
        assertTrue(assertThrows(HvspiException.class, () -> IntentLog.read(file(), 0)).getMessage()
                .contains("line 2: sequence number 5 does not follow 5"));
        Files.writeString(file(), "{\"seq\":\"x\",\"intent\":{}}\n");
        assertTrue(assertThrows(HvspiException.class, () -> IntentLog.read(file(), 0)).getMessage()
                .contains("line 1: not a numbered intent or outcome"));
        Files.writeString(file(), "{\"seq\":1,\"intent\":{\"op\":\"IOTHREAD_ADD\",\"id\":\"a\"}} junk\n");
        assertTrue(assertThrows(HvspiException.class, () -> IntentLog.read(file(), 0)).getMessage()
                .startsWith("corrupt intent log " + file() + " line 1: "), "anything after a line's object is damage");
        Files.write(file(), new byte[] {'{', (byte) 0xff, '}', '\n'});
        assertTrue(assertThrows(HvspiException.class, () -> IntentLog.read(file(), 0)).getMessage()
                .startsWith("corrupt intent log " + file() + " line 1: "));
    }

    @Test
    void aLinkInPlaceOfTheLogIsNotFollowed() throws Exception {
        Path target = dir.resolve("elsewhere");
        Files.writeString(target, "");
        Files.createSymbolicLink(file(), target);
        HvspiException e = assertThrows(HvspiException.class,
                () -> new IntentLog(file(), 0).append(Intent.ioThreadAdd("x1")));
        assertTrue(e.getMessage().startsWith("cannot log intent of IOTHREAD_ADD 'x1' to " + file()), e.getMessage());
        assertEquals("", Files.readString(target), "nothing written through the link");

        Files.writeString(target, "secret\n");
        HvspiException read = assertThrows(HvspiException.class, () -> IntentLog.read(file(), 0));
        assertTrue(read.getMessage().startsWith("cannot read intent log " + file()), read.getMessage());
        assertFalse(read.getMessage().contains("secret"), "nothing read through the link: " + read.getMessage());
    }

    @Test
    void aFifoInPlaceOfTheLogIsAnErrorNotAHang() throws Exception {
        assertEquals(0, new ProcessBuilder("mkfifo", file().toString()).start().waitFor());
        HvspiException e = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(5),
                () -> assertThrows(HvspiException.class, () -> IntentLog.read(file(), 0)));
        assertTrue(e.getMessage().startsWith("cannot read intent log " + file()), e.getMessage());
        assertTrue(e.getMessage().contains("not a regular file"), e.getMessage());
    }

    @Test
    void theFileIsEmptiedOnceARecordCoversItAndHasGrownAndNumberingGoesOn() throws Exception {
        IntentLog log = log(0);
        log.append(Intent.ioThreadAdd("x1"));
        log.covered(false);
        assertTrue(Files.size(file()) > 0, "small: kept, its lines are history");
        while (Files.size(file()) < IntentLog.COMPACT_BYTES) {
            log.append(Intent.ioThreadAdd("x1"));
        }
        long last = log.lastSeq();
        log.covered(false);
        assertEquals(0, Files.size(file()));
        log.append(Intent.ioThreadRemove("x1"));
        while (Files.size(file()) < IntentLog.COMPACT_BYTES) {
            log.append(Intent.ioThreadRemove("x1"));
        }
        IntentLog another = log(log.lastSeq());
        another.covered(false);
        assertEquals(0, Files.size(file()), "what an earlier process appended counts towards compaction");
        log = another;
        log.append(Intent.ioThreadRemove("x1"));
        last = log.lastSeq() - 1;
        assertEquals(last + 1, log.lastSeq());
        assertEquals(List.of(Intent.ioThreadRemove("x1")), IntentLog.read(file(), last).intents());
        log.covered(true);
        assertEquals(0, Files.size(file()), "emptied when asked, whatever its size");
        assertTrue(new String(Files.readAllBytes(file()), StandardCharsets.UTF_8).isEmpty());
    }

    @Test
    void aLoggedIntentTakesThePlaceOfTheRecordedOneAboutTheSameThing() {
        Intent recordedMove = Intent.move(disk("d0"), List.of("indep_iothread_1"));
        Intent loggedDetach = Intent.detach(disk("d0"));
        List<Intent> merged = PendingIntents.merge(List.of(recordedMove, Intent.ioThreadAdd("x1")),
                List.of(loggedDetach, Intent.ioThreadRemove("x2")));
        assertEquals(List.of(Intent.ioThreadAdd("x1"), loggedDetach, Intent.ioThreadRemove("x2")), merged);
    }

    /** A huge log (sparse, 8 GiB) was not written by hvspi: refused after 16 MiB, not read whole. */
    @Test
    void aHugeLogIsRefusedWithoutReadingItWhole() throws Exception {
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(file().toFile(), "rw")) {
            f.setLength(8L << 30);
        }
        HvspiException e = assertThrows(HvspiException.class, () -> IntentLog.read(file(), 0));
        assertEquals("refusing intent log " + file() + ": it is larger than 16 MiB; hvspi keeps it to a few KiB",
                e.getMessage());
    }
}
