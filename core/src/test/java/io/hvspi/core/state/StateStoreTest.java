package io.hvspi.core.state;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.verify;

import io.hvspi.spi.HvspiException;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmStateStore;
import io.hvspi.spi.VmmMetrics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class StateStoreTest {
    @TempDir
    Path tmp;

    private DefaultHostContext host() {
        return new DefaultHostContext(tmp.resolve("run"), Duration.ofSeconds(1), Map.of());
    }

    private static String mode(Path p) throws Exception {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }

    @Test
    void runtimeRootAndVmDirectoriesArePrivate() throws Exception {
        DefaultHostContext host = host();
        Path vmDir = host.createRuntimeDir("vm1");
        assertEquals("rwx------", mode(host.runtimeRoot()));
        assertEquals("rwx------", mode(vmDir));
        assertEquals(host.runtimeRoot().resolve("vm1"), vmDir);
    }

    @Test
    void aCopyWithAnotherStoreKeepsTheHostsDirectoriesOptionsAndMetrics() {
        VmmMetrics metrics = new VmmMetrics() { };
        DefaultHostContext host = host().withOption("endpoint", "/tmp/x.sock").withMetrics(metrics);
        VmStateStore other = mock(VmStateStore.class);
        DefaultHostContext copy = host.withStateStore(other).withOption("k", "v");
        Path dir = copy.createRuntimeDir("vm1");
        VmRecord record = new VmRecord("vm1", "toy", 0, dir, Instant.now(), "{}");
        copy.stateStore().save(record);

        verify(other).save(record); // the copy's records go to its store
        assertTrue(host.stateStore().load("vm1").isEmpty(), "not to the host's state file");
        assertEquals(host.runtimeRoot(), copy.runtimeRoot());
        assertEquals(Optional.of("/tmp/x.sock"), copy.option("endpoint"));
        assertEquals(Optional.of("v"), copy.option("k"));
        assertTrue(host.option("k").isEmpty());
        assertEquals(metrics, copy.metrics());
        copy.removeRuntimeDir("vm1");
        assertFalse(Files.exists(dir));
    }

    @Test
    void aTakenVmIdIsRefused() {
        DefaultHostContext host = host();
        host.createRuntimeDir("vm1");
        RequestRejectedException e = assertThrows(RequestRejectedException.class, () -> host.createRuntimeDir("vm1"));
        assertEquals(RequestRejectedException.Reason.DUPLICATE_ID, e.reason());
    }

    @ParameterizedTest
    @ValueSource(strings = {"..", "../etc", "a/b", "-rf", "", "9lives", "x,y", "a b", ".", ".hidden", "vm1/",
            "vm1/../vm2", "a/../../etc", "vm1\n", "vm1\u0000", "vm\u00e9", "vm1\\..", "/etc/passwd",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
    void unsafeVmIdsAreRefused(String id) {
        RequestRejectedException e = assertThrows(RequestRejectedException.class, () -> host().createRuntimeDir(id));
        assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT, e.reason());
    }

    /** Every entry point of the store checks the id before it builds a path from it. */
    @ParameterizedTest
    @ValueSource(strings = {"..", "../outside", "a/../../outside", "vm1/", "/tmp/x", "vm1\u0000"})
    void everyStoreOperationRefusesAnIdThatTriesToLeaveTheRoot(String id) throws Exception {
        DefaultHostContext host = host();
        JsonVmStateStore store = (JsonVmStateStore) host.stateStore();
        VmRecord record = new VmRecord(id, "qemu", 1, tmp, Instant.EPOCH, "{}");
        for (Executable op : List.<Executable>of(
                () -> store.save(record), () -> store.load(id), () -> store.remove(id), () -> store.recordFile(id))) {
            RequestRejectedException e = assertThrows(RequestRejectedException.class, op);
            assertEquals(RequestRejectedException.Reason.INVALID_ARGUMENT, e.reason());
        }
        try (Stream<Path> files = Files.list(tmp)) {
            // the root itself is made only when something is written there
            assertEquals(List.of(), files.filter(f -> !f.equals(tmp.resolve("run"))).toList(),
                    "nothing was written outside the root");
        }
    }

    @Test
    void recordsRoundTripPrivatelyAndLeaveNoTemporaryFiles() throws Exception {
        DefaultHostContext host = host();
        Path dir = host.createRuntimeDir("vm1");
        VmRecord record = new VmRecord("vm1", "qemu", 4242, dir, Instant.parse("2026-11-29T06:00:00Z"),
                "{\"qmp\":\"/run/x/qmp.sock\",\"devices\":[1,2]}");
        host.stateStore().save(record);
        host.stateStore().save(record.withPluginState("{\"devices\":[]}"));

        VmRecord back = host.stateStore().load("vm1").orElseThrow();
        assertEquals(record.withPluginState("{\"devices\":[]}"), back);
        assertEquals(List.of(back), host.stateStore().list());
        assertEquals("rw-------", mode(dir.resolve("vm.json")));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(dir.resolve("vm.json")), files.toList());
        }
        host.stateStore().remove("vm1");
        assertTrue(host.stateStore().load("vm1").isEmpty());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "   ", "{\"devices\":[1,2]", "{\"a\":1} {\"b\":2}", "{\"a\":1}x", "{a:1}",
            "{\"a\":\"tab\tinside\"}", "{\"a\":\"\\q\"}", "{\"a\":01}", "{\"a\":NaN}", "[1,]", "{\"a\":1,}"})
    void aPluginStateThatIsNotOneJsonValueIsNotSavedAndTheOldRecordStays(String state) throws Exception {
        DefaultHostContext host = host();
        Path dir = host.createRuntimeDir("vm1");
        VmRecord good = new VmRecord("vm1", "qemu", 0, dir, Instant.EPOCH, "{\"devices\":[]}");
        host.stateStore().save(good);
        HvspiException e = assertThrows(HvspiException.class, () -> host.stateStore().save(good.withPluginState(state)));
        assertTrue(e.getMessage().startsWith("cannot save state of VM 'vm1'"), e.getMessage());
        assertEquals(good, host.stateStore().load("vm1").orElseThrow());
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(dir.resolve("vm.json")), files.toList());
        }
    }

    @Test
    void aSaveFromAnInterruptedThreadIsWrittenAndTheInterruptStays() {
        DefaultHostContext host = host();
        Path dir = host.createRuntimeDir("vm1");
        VmRecord record = new VmRecord("vm1", "qemu", 0, dir, Instant.EPOCH, "{\"devices\":[1]}");
        Thread.currentThread().interrupt();
        try {
            host.stateStore().save(record);
            assertTrue(Thread.currentThread().isInterrupted(), "the caller's interrupt status is kept");
        } finally {
            Thread.interrupted();
        }
        assertEquals(record, host.stateStore().load("vm1").orElseThrow());
    }

    @Test
    void aPluginStateIsRecordedAsItWasGivenWithItsEscapesAndNonAsciiText() {
        DefaultHostContext host = host();
        Path dir = host.createRuntimeDir("vm1");
        String state = "{\"path\":\"/d\u00e9j\u00e0/\\\"q\\\"\\n\",\"n\":[1,-2.5,true,null],\"x\":{\"\u2603\":{}}}";
        VmRecord record = new VmRecord("vm1", "qemu", 0, dir, Instant.EPOCH, state);
        for (int i = 0; i < 3; i++) {
            host.stateStore().save(record);
        }
        assertEquals(state, host.stateStore().load("vm1").orElseThrow().pluginState());
    }

    @Test
    void aRecordKeptUnderAnotherVmsNameIsCorrupt() throws Exception {
        DefaultHostContext host = host();
        host.stateStore().save(new VmRecord("vm1", "qemu", 1, tmp, Instant.EPOCH, "{}"));
        Path vm2 = host.createRuntimeDir("vm2");
        Files.copy(host.runtimeRoot().resolve("vm1/vm.json"), vm2.resolve("vm.json"));
        HvspiException e = assertThrows(HvspiException.class, () -> host.stateStore().load("vm2"));
        assertEquals("corrupt VM record " + vm2.resolve("vm.json") + ": it is for VM 'vm1', kept under 'vm2'",
                e.getMessage());
    }

    @Test
    void aCorruptRecordIsReportedWithItsFile() throws Exception {
        DefaultHostContext host = host();
        Path dir = host.createRuntimeDir("vm1");
        Files.writeString(dir.resolve("vm.json"), "{\"vmId\": \"vm1\", trunc");
        HvspiException e = assertThrows(HvspiException.class, () -> host.stateStore().load("vm1"));
        assertTrue(e.getMessage().startsWith("corrupt VM record " + dir.resolve("vm.json")), e.getMessage());
    }

    @Test
    void aRecordWithAnythingAfterItsObjectIsCorrupt() throws Exception {
        DefaultHostContext host = host();
        host.stateStore().save(new VmRecord("vm1", "qemu", 1, host.runtimeRoot().resolve("vm1").toAbsolutePath(),
                Instant.EPOCH, "{}"));
        Path file = host.runtimeRoot().resolve("vm1/vm.json");
        assertTrue(host.stateStore().load("vm1").isPresent());
        String whole = Files.readString(file);
        for (String tail : List.of(" junk", whole, "{}", "]")) {
            Files.writeString(file, whole + tail);
            HvspiException e = assertThrows(HvspiException.class, () -> host.stateStore().load("vm1"), tail);
            assertTrue(e.getMessage().startsWith("corrupt VM record " + file + ": "), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        }
        Files.writeString(file, whole + "\n  \n");
        assertTrue(host.stateStore().load("vm1").isPresent(), "white space after the object is not damage");
    }

    /** The record is read with the streaming parser: each field as a tree would give it, the state as its text. */
    @Test
    void aRecordWrittenByHandIsReadFieldByFieldAndItsStateAsItsText() throws Exception {
        DefaultHostContext host = host();
        Path dir = host.createRuntimeDir("vm1");
        Path file = dir.resolve("vm.json");
        String fields = "\"vmId\": \"vm1\", \"hypervisorType\": \"qemu\", \"pid\": 0, \"runtimeDir\": \""
                + dir.toAbsolutePath() + "\", \"createdAt\": \"2026-12-07T00:00:00Z\"";
        List<String> states = List.of(
                "{ \"a\" : [1, 2.5e3, -7, true, null, {\"b\": \"\\u00e9\\n\"}] }",
                "\"d\u00e9j\u00e0 \\\"quoted\\\" \u2603\"",
                "12345678901234567890123",
                "-1.5e3",
                "false",
                "[]");
        for (String state : states) {
            for (String layout : List.of("{%s, \"pluginState\": %s}", "{\"pluginState\":%s , %s}\n")) {
                String text = layout.startsWith("{%s") ? layout.formatted(fields, state) : layout.formatted(state, fields);
                Files.writeString(file, text);
                VmRecord r = host.stateStore().load("vm1").orElseThrow();
                assertEquals(state, r.pluginState(), text);
                assertEquals("qemu", r.hypervisorType());
                assertEquals(Instant.parse("2026-12-07T00:00:00Z"), r.createdAt());
            }
        }
        Files.writeString(file, "{" + fields + "}");
        assertEquals("null", host.stateStore().load("vm1").orElseThrow().pluginState(), "no state: JSON null");
        Files.writeString(file, "{" + fields + ", \"hypervisorType\": \"clh\", \"pluginState\": 1, \"pluginState\": 2}");
        VmRecord twice = host.stateStore().load("vm1").orElseThrow();
        assertEquals("clh", twice.hypervisorType(), "a field given twice: the last counts");
        assertEquals("2", twice.pluginState());
        for (String bad : List.of("[]", "\"text\"", "", "{" + fields + ", \"pluginState\": {\"a\": }}",
                "{" + fields + ", \"pluginState\": " + "[".repeat(5000) + "]".repeat(5000) + "}",
                "{" + fields + ", \"vmm\": " + "[".repeat(5000) + "]".repeat(5000) + "}")) {
            Files.writeString(file, bad);
            HvspiException e = assertThrows(HvspiException.class, () -> host.stateStore().load("vm1"), bad);
            assertTrue(e.getMessage().startsWith("corrupt VM record " + file + ": "), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        }
    }
}
