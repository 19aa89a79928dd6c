package io.hvspi.cli;

import static io.hvspi.cli.HvctlRunner.fixture;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The habits virsh and kubectl users bring, checked on the installed launcher: quiet lists, times
 * to the second, several ids at once, stopping what is gone is no failure, empty is a warning.
 */
class CliHabitsIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String SECONDS_UTC = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ";

    @TempDir
    Path tmp;

    private final List<Long> qemuPids = new ArrayList<>();

    @AfterEach
    void noQemuOutlivesTheTest() {
        qemuPids.forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
    }

    private Path runtime() {
        return tmp.resolve("run");
    }

    private void keep(String vmId) throws Exception {
        HvctlRunner.Result r = HvctlRunner.hvctl("run", "--accel", "tcg", "--keep", "--vm-id", vmId, "--disks", "0", "--json",
                "--runtime-dir", runtime().toString());
        assertEquals(0, r.exit(), r::toString);
        qemuPids.add(JSON.readTree(r.out()).get("pid").asLong());
    }

    @Test
    void listIsQuietOnAskTimesAreToTheSecondAndStopTakesSeveralIdsSomeGone() throws Exception {
        keep("habit-a");
        keep("habit-b");

        HvctlRunner.Result quiet = HvctlProcess.run(runtime(), "vm", "list", "-q");
        assertEquals(0, quiet.exit(), quiet::toString);
        assertEquals("habit-a\nhabit-b\n", quiet.out());

        HvctlRunner.Result table = HvctlProcess.run(runtime(), "vm", "list");
        assertEquals(0, table.exit(), table::toString);
        List<String> rows = table.out().lines().skip(1).toList();
        assertEquals(2, rows.size(), table::toString);
        rows.forEach(row -> assertTrue(row.split("\\s+")[4].matches(SECONDS_UTC), () -> "CREATED to the second: " + row));
        JsonNode json = JSON.readTree(HvctlProcess.run(runtime(), "vm", "list", "--json").out());
        json.forEach(vm -> assertTrue(vm.get("createdAt").asText().matches(SECONDS_UTC), vm::toString));

        HvctlRunner.Result stop = HvctlProcess.run(runtime(), "vm", "stop", "habit-a", "habit-gone", "habit-b", "--json");
        assertEquals(0, stop.exit(), stop::toString);
        assertEquals(JSON.readTree("{\"stopped\":[\"habit-a\",\"habit-b\"],\"absent\":[\"habit-gone\"],\"failed\":[]}"), JSON.readTree(stop.out()));
        assertTrue(stop.err().contains("hvctl: note: VM habit-gone is not there (already stopped?); nothing to do\n"), stop::toString);
        qemuPids.forEach(pid -> assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "QEMU " + pid));

        HvctlRunner.Result again = HvctlProcess.run(runtime(), "vm", "stop", "habit-a");
        assertEquals(0, again.exit(), again::toString);
        assertEquals("", again.out());
        assertEquals("hvctl: note: VM habit-a is not there (already stopped?); nothing to do\n", again.err());
        assertEquals("", HvctlProcess.run(runtime(), "vm", "list", "-q").out());
    }

    @Test
    void anEmptyOrMissingPluginsDirectoryIsAWarningNotASilentEmptyTable() throws Exception {
        Path empty = Files.createDirectory(tmp.resolve("empty"));
        HvctlRunner.Result r = HvctlProcess.run("plugins", "--plugins-dir", empty.toString());
        assertEquals(0, r.exit(), r::toString);
        assertEquals("hvctl: warning: no plugin jars in " + empty + "\n", r.err());

        Path missing = tmp.resolve("missing");
        HvctlRunner.Result json = HvctlProcess.run("plugins", "--plugins-dir", missing.toString(), "--json");
        assertEquals(0, json.exit(), json::toString);
        assertEquals("hvctl: warning: plugins directory " + missing + " does not exist; no plugins\n", json.err());
        assertEquals(0, JSON.readTree(json.out()).get("plugins").size());

        HvctlRunner.Result caps = HvctlProcess.run("capabilities", "--plugins-dir", empty.toString());
        assertEquals(0, caps.exit(), caps::toString);
        assertEquals("hvctl: warning: no plugin jars in " + empty + "\n", caps.err());
    }

    @Test
    void configCheckSaysWhenAConfigHasNoMachineType() throws Exception {
        HvctlRunner.Result r = HvctlProcess.run("config", "check", fixture("configuration-clh.toml").toString());
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().contains("\n  machine:      the VMM's own (no machine_type), accel "), r::toString);
        HvctlRunner.Result qemu = HvctlProcess.run("config", "check");
        assertTrue(qemu.out().contains("\n  machine:      q35, accel "), qemu::toString);
    }
}
