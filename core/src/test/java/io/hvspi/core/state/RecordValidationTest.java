package io.hvspi.core.state;

import static io.hvspi.core.state.TestProcesses.kill;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.HvspiException;
import io.hvspi.spi.VmRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Records are data, not authority: the VMM identity they carry, the fields they may hold, and listing past bad ones. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RecordValidationTest {
    @TempDir
    Path tmp;
    Path root;
    DefaultHostContext host;
    JsonVmStateStore store;

    @BeforeEach
    void setUp() {
        root = tmp.resolve("run");
        host = new DefaultHostContext(root, Duration.ofSeconds(1), Map.of());
        store = (JsonVmStateStore) host.stateStore();
    }

    private VmRecord record(String vmId, long pid, int createdSecond) {
        return new VmRecord(vmId, "qemu", pid, root.toAbsolutePath().resolve(vmId),
                Instant.ofEpochSecond(createdSecond), "{\"qmp\":\"qmp.sock\"}");
    }

    private void edit(String vmId, String from, String to) throws Exception {
        Path file = store.recordFile(vmId);
        String json = Files.readString(file);
        assertTrue(json.contains(from), json);
        Files.writeString(file, json.replace(from, to));
    }

    @Test
    void theFirstSaveWithAPidRecordsTheVmmIdentityAndLoadGivesItBack() throws Exception {
        Path dir = host.createRuntimeDir("vm1");
        Process vmm = TestProcesses.sleepNaming(dir.resolve("qmp.sock").toString());
        VmmIdentity live = VmmIdentity.ofPid(vmm.pid()).orElseThrow();
        try {
            store.save(record("vm1", vmm.pid(), 1));
            assertTrue(Files.readString(store.recordFile("vm1")).contains("\"startTime\":" + live.startTime()));
            JsonVmStateStore.Stored s = store.loadStored("vm1").orElseThrow();
            assertEquals(Optional.of(live), s.identity());
            VmEntry.Recorded entry = (VmEntry.Recorded) store.entries().get(0);
            assertTrue(entry.vmmAlive());
        } finally {
            kill(vmm);
        }
        // another process (a fresh store) that loads and saves keeps the identity recorded at spawn
        JsonVmStateStore other = new JsonVmStateStore(root.toAbsolutePath());
        VmRecord loaded = other.load("vm1").orElseThrow();
        other.save(loaded.withPluginState("{\"qmp\":\"qmp.sock\",\"disks\":1}"));
        assertEquals(Optional.of(live), other.loadStored("vm1").orElseThrow().identity());
        assertFalse(((VmEntry.Recorded) other.entries().get(0)).vmmAlive());
    }

    @Test
    void aRecordWithoutAPidHasNoIdentity() {
        host.createRuntimeDir("vm1");
        store.save(record("vm1", 0, 1));
        assertEquals(Optional.empty(), store.loadStored("vm1").orElseThrow().identity());
    }

    @Test
    void anIdentityThatDisagreesWithThePidIsIgnored() throws Exception {
        host.createRuntimeDir("vm1");
        store.save(record("vm1", ProcessHandle.current().pid(), 1));
        edit("vm1", "\"pid\":" + ProcessHandle.current().pid() + ",\"runtimeDir\"", "\"pid\":1,\"runtimeDir\"");
        JsonVmStateStore fresh = new JsonVmStateStore(root.toAbsolutePath());
        assertEquals(Optional.empty(), fresh.loadStored("vm1").orElseThrow().identity());
    }

    @Test
    void aRuntimeDirElsewhereIsRefusedNamingTheFieldAndBothValues() throws Exception {
        host.createRuntimeDir("vm1");
        store.save(record("vm1", 0, 1));
        Path elsewhere = Files.createDirectory(tmp.resolve("precious"));
        edit("vm1", root.toAbsolutePath().resolve("vm1").toString(), elsewhere.toString());
        HvspiException e = assertThrows(HvspiException.class, () -> store.load("vm1"));
        assertEquals("corrupt VM record " + store.recordFile("vm1") + ": field runtimeDir is '" + elsewhere
                + "', expected '" + root.toAbsolutePath().resolve("vm1") + "'", e.getMessage());
    }

    @Test
    void aNegativeOrMissingPidIsRefused() throws Exception {
        host.createRuntimeDir("vm1");
        store.save(record("vm1", 7, 1));
        edit("vm1", "\"pid\":7", "\"pid\":-7");
        assertTrue(assertThrows(HvspiException.class, () -> store.load("vm1")).getMessage()
                .endsWith("field pid is -7, expected 0 or a process id"));
        edit("vm1", "\"pid\":-7", "\"pid\":\"seven\"");
        assertTrue(assertThrows(HvspiException.class, () -> store.load("vm1")).getMessage()
                .endsWith("field pid is missing or not an integer"));
    }

    @Test
    void corruptRecordsAreListedAsSuchAndHideNoOtherVm() throws Exception {
        for (String id : List.of("good1", "empty", "truncated", "garbage", "array", "good2")) {
            host.createRuntimeDir(id);
            store.save(record(id, 0, id.equals("good2") ? 2 : 1));
        }
        host.createRuntimeDir("norecord");
        Files.writeString(store.recordFile("empty"), "");
        String full = Files.readString(store.recordFile("truncated"));
        Files.writeString(store.recordFile("truncated"), full.substring(0, full.length() / 2));
        Files.writeString(store.recordFile("garbage"), "\u0000\u00ffnot json");
        Files.writeString(store.recordFile("array"), "[1,2]");
        VmLock.acquire(root, "good1", Duration.ofSeconds(1)).close(); // makes <root>/.locks, never listed

        List<VmEntry> entries = store.entries();
        assertEquals(List.of("good1", "good2", "array", "empty", "garbage", "norecord", "truncated"),
                entries.stream().map(VmEntry::vmId).toList());
        assertInstanceOf(VmEntry.Recorded.class, entries.get(0));
        assertInstanceOf(VmEntry.Recorded.class, entries.get(1));
        assertInstanceOf(VmEntry.Unrecorded.class, entries.get(5));
        for (int i : new int[] {2, 3, 4, 6}) {
            VmEntry.Corrupt c = assertInstanceOf(VmEntry.Corrupt.class, entries.get(i));
            assertTrue(c.reason().startsWith("corrupt VM record " + c.dir().resolve("vm.json") + ": "), c.reason());
            assertFalse(c.reason().contains("\n"), "one line: " + c.reason());
        }
        // the SPI listing plugins use still works and holds the good ones
        assertEquals(List.of("good1", "good2"), store.list().stream().map(VmRecord::vmId).toList());
    }

    /** A huge record (sparse, 8 GiB) is refused after 16 MiB, listed as corrupt, and hides no other VM. */
    @Test
    void aHugeRecordIsRefusedWithoutReadingItWhole() throws Exception {
        for (String id : List.of("big", "good")) {
            host.createRuntimeDir(id);
            store.save(record(id, 0, 1));
        }
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(store.recordFile("big").toFile(), "rw")) {
            f.setLength(8L << 30);
        }
        HvspiException e = assertThrows(HvspiException.class, () -> store.load("big"));
        assertEquals("refusing VM record " + store.recordFile("big") + ": it is larger than 16 MiB; hvspi writes"
                + " records of a few KiB", e.getMessage());
        List<VmEntry> entries = store.entries();
        assertInstanceOf(VmEntry.Corrupt.class, entries.stream().filter(v -> v.vmId().equals("big")).findFirst()
                .orElseThrow());
        assertEquals(List.of("good"), store.list().stream().map(VmRecord::vmId).toList());
    }
}
