package io.hvspi.cli;

import static io.hvspi.cli.HvctlRunner.hvctl;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** hvctl's NIC options on the installed real QEMU (tcg, no guest) with real host taps (root). */
class NetworkCliIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path runtime;

    /** Every tap a test may leave when it fails half-way (a killed QEMU does not remove hvspi's taps). */
    private final List<String> userTaps = new ArrayList<>(List.of("netrun1-0", "netrun1-1", "netkept-a"));
    private final List<Long> pids = new ArrayList<>();

    @BeforeEach
    void needsTaps() {
        Assumptions.assumeTrue(Path.of("/dev/net/tun").toFile().canWrite(), "needs /dev/net/tun (root)");
    }

    @AfterEach
    void cleanUp() throws Exception {
        pids.forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
        for (String tap : userTaps) {
            if (tapExists(tap)) {
                new ProcessBuilder("ip", "link", "del", "dev", tap).start().waitFor();
            }
        }
    }

    private HvctlRunner.Result hv(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.add("--runtime-dir");
        all.add(runtime.toString());
        return hvctl(all.toArray(String[]::new));
    }

    private JsonNode json(String... args) throws IOException {
        HvctlRunner.Result r = hv(args);
        assertEquals(0, r.exit(), r::toString);
        return JSON.readTree(r.out());
    }

    private static boolean tapExists(String name) {
        return Files.exists(Path.of("/sys/class/net", name));
    }

    private String userTap() throws Exception {
        byte[] b = new byte[4];
        ThreadLocalRandom.current().nextBytes(b);
        String name = "hvu" + HexFormat.of().formatHex(b);
        userTaps.add(name);
        assertEquals(0, new ProcessBuilder("ip", "tuntap", "add", "dev", name, "mode", "tap", "multi_queue").start()
                .waitFor());
        return name;
    }

    @Test
    void runWithNicsNamesTapsAfterTheVmAndRemovesThemAtStop() throws IOException {
        JsonNode vm = json("run", "--accel", "tcg", "--disks", "1", "--nics", "2", "--vm-id", "netrun1", "--json");
        pids.add(vm.get("pid").asLong());
        JsonNode nics = vm.get("nics");
        assertEquals(2, nics.size(), vm.toString());
        assertEquals("nic0", nics.get(0).get("id").asText());
        assertEquals("netrun1-0", nics.get(0).get("tap").asText());
        assertEquals("netrun1-1", nics.get(1).get("tap").asText());
        assertTrue(nics.get(0).get("tapCreated").asBoolean());
        assertTrue(nics.get(0).get("mac").asText().matches("[0-9a-f]{2}(:[0-9a-f]{2}){5}"), nics.toString());
        assertTrue(nics.get(0).has("address"));
        assertEquals(1, nics.get(0).get("queues").asInt());
        assertFalse(tapExists("netrun1-0"), "hvctl run without --keep stops the VM and removes its taps");
        assertFalse(tapExists("netrun1-1"));
    }

    @Test
    void hotplugAndUnplugNicsOnAKeptVmAndShowThemInStatus() throws Exception {
        JsonNode run = json("run", "--accel", "tcg", "--keep", "--vm-id", "netkept", "--disks", "1", "--json");
        pids.add(run.get("pid").asLong());
        String userTap = userTap();

        JsonNode made = json("vm", "hotplug", "netkept", "--id", "eth-a", "--tap", "netkept-a", "--create-tap",
                "--json");
        assertEquals("netkept-a", made.get("tap").asText());
        assertTrue(tapExists("netkept-a"));
        HvctlRunner.Result table = hv("vm", "hotplug", "netkept", "--id", "eth-b", "--tap", userTap, "--mac",
                "52:54:00:12:34:56", "--queues", "2");
        assertEquals(0, table.exit(), table::toString);
        assertTrue(table.out().matches("(?s)NIC +TAP +MAC +ADDRESS +QUEUES +TAP MADE BY\\s+eth-b +" + userTap
                + " +52:54:00:12:34:56 +rp\\d+:00\\.0 +2 +user\\s*"), table::toString);

        JsonNode status = json("vm", "status", "netkept", "--json");
        assertEquals(2, status.get("nics").size(), status.toString());
        assertEquals("disk0", status.get("devices").get(0).get("id").asText());
        HvctlRunner.Result text = hv("vm", "status", "netkept");
        assertTrue(text.out().contains("eth-a") && text.out().contains("hvspi"), text::toString);

        assertEquals(0, hv("vm", "unplug", "netkept", "eth-a").exit());
        assertFalse(tapExists("netkept-a"), "the tap hvspi made goes with the NIC");
        assertEquals(0, hv("vm", "unplug", "netkept", "disk0").exit(), "unplug takes disks too");
        HvctlRunner.Result unknown = hv("vm", "unplug", "netkept", "nope");
        assertEquals(ExitCode.FAILED, unknown.exit(), unknown::toString);
        assertTrue(unknown.err().contains("'nope'"), unknown.err());

        assertEquals(0, hv("vm", "stop", "netkept").exit());
        assertTrue(tapExists(userTap), "a user's tap outlives the VM");
    }

    @Test
    void nicOptionsOutsideTheirKindAreUsageErrors() throws IOException {
        assertEquals(ExitCode.USAGE, hv("vm", "hotplug", "x", "--id", "d", "--null", "64", "--mac",
                "52:54:00:12:34:56").exit());
        assertEquals(ExitCode.USAGE, hv("vm", "hotplug", "x", "--id", "d", "--tap", "t0", "--read-only").exit());
        HvctlRunner.Result badName = hv("vm", "hotplug", "x", "--id", "d", "--tap", "a-name-far-too-long");
        assertEquals(ExitCode.USAGE, badName.exit(), badName::toString);
        assertTrue(badName.err().contains("--tap"), badName.err());
        assertEquals(ExitCode.USAGE, hv("run", "--nics", "17").exit());
    }
}
