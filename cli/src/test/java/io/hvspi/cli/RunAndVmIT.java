package io.hvspi.cli;

import static io.hvspi.cli.HvctlRunner.fixture;
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
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** hvctl run and hvctl vm on the installed real QEMU (tcg, no guest) and on the simulators. */
class RunAndVmIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path runtime;

    private final List<Long> pids = new ArrayList<>();

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

    @AfterEach
    void nothingLeftRunning() {
        pids.forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
    }

    private static List<String> field(JsonNode array, String name) {
        List<String> values = new ArrayList<>();
        array.forEach(n -> values.add(n.get(name).asText()));
        return values;
    }

    private List<Path> leftovers() throws IOException {
        try (Stream<Path> files = Files.list(runtime)) {
            // .locks is the host's own: lock files outlive their VMs by design
            return files.filter(f -> !f.getFileName().toString().equals(".locks")).toList();
        }
    }

    @Test
    void runWithoutAccelTakesKvmOrTcgAsThisHostAllowsAndSaysWhy() {
        boolean kvm = Files.isReadable(Path.of("/dev/kvm")) && Files.isWritable(Path.of("/dev/kvm"));
        HvctlRunner.Result r = hv("run", "--disks", "1");
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.err().contains("accel " + (kvm ? "kvm (auto: /dev/kvm is usable)" : "tcg (auto: /dev/kvm is")),
                r.err());
    }

    /** --accel's reason names the command line, not the configuration that it overrides. */
    @Test
    void anAccelGivenOnTheCommandLineSaysSo() {
        HvctlRunner.Result r = hv("run", "--accel", "tcg", "--disks", "0");
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.err().contains("accel tcg (--accel tcg on the command line)"), r.err());
    }

    @Test
    void runSpreadsFourDisksOverFourIOThreadsAndCleansUp() throws IOException {
        JsonNode vm = json("run", "--accel", "tcg", "--json");
        pids.add(vm.get("pid").asLong());
        JsonNode devices = vm.get("devices");
        assertEquals(List.of("disk0", "disk1", "disk2", "disk3"), field(devices, "id"));
        Set<String> servedBy = new HashSet<>(field(devices, "servedBy"));
        assertEquals(Set.of("indep_iothread_0", "indep_iothread_1", "indep_iothread_2", "indep_iothread_3"), servedBy);
        devices.forEach(d -> assertTrue(d.get("hostThreadIds").asText().matches("\\d+"), d.toString()));
        assertFalse(vm.get("kept").asBoolean());
        assertFalse(ProcessHandle.of(vm.get("pid").asLong()).map(ProcessHandle::isAlive).orElse(false),
                "QEMU still runs after hvctl run");
        assertEquals(List.of(), leftovers());
    }

    @Test
    void keptVmIsManagedThroughItsStateAndAFreshConnection() throws IOException {
        JsonNode run = json("run", "--accel", "tcg", "--keep", "--vm-id", "kept1", "--disks", "2", "--policy", "first", "--json");
        long pid = run.get("pid").asLong();
        pids.add(pid);
        assertEquals(List.of("indep_iothread_0", "indep_iothread_0"), field(run.get("devices"), "servedBy"));

        JsonNode list = json("vm", "list", "--json");
        assertEquals("kept1", list.get(0).get("id").asText());
        assertTrue(list.get(0).get("alive").asBoolean());

        JsonNode extra = json("vm", "hotplug", "kept1", "--id", "extra", "--null", "64", "--iothread", "indep_iothread_3", "--json");
        assertEquals("indep_iothread_3", extra.get("servedBy").asText());

        HvctlRunner.Result busy = hv("vm", "iothreads", "kept1", "--remove", "indep_iothread_0");
        assertEquals(ExitCode.FAILED, busy.exit(), busy::toString);
        assertTrue(busy.err().contains("indep_iothread_0"), busy.err());

        JsonNode moved = json("vm", "move", "kept1", "disk0", "--iothread", "indep_iothread_2", "--json");
        assertEquals("indep_iothread_2", moved.get("servedBy").asText());

        HvctlRunner.Result vq = hv("vm", "hotplug", "kept1", "--id", "vq", "--null", "64",
                "--iothread", "indep_iothread_1,indep_iothread_2");
        if (InstalledQemu.atLeast(9, 0)) {
            // iothread-vq-mapping came with QEMU 9.0: the two queues go one to each IOThread
            assertEquals(0, vq.exit(), vq::toString);
            assertTrue(vq.out().matches("(?s).*\\nvq +virtio-blk-pci +indep_iothread_1,indep_iothread_2 .* 2 .*"),
                    vq::toString);
            assertEquals(0, hv("vm", "unplug", "kept1", "vq").exit());
        } else {
            assertEquals(ExitCode.UNSUPPORTED, vq.exit(), vq::toString);
        }

        assertEquals(0, hv("vm", "unplug", "kept1", "extra").exit());
        JsonNode pool = json("vm", "iothreads", "kept1", "--add", "io9", "--json");
        assertEquals("io9", pool.get(pool.size() - 1).get("id").asText());

        JsonNode status = json("vm", "status", "kept1", "--json");
        assertEquals(List.of("disk0", "disk1"), field(status.get("devices"), "id"));
        assertEquals(List.of("indep_iothread_2", "indep_iothread_0"), field(status.get("devices"), "servedBy"));

        assertEquals(0, hv("vm", "stop", "kept1").exit());
        assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "QEMU still runs after vm stop");
        assertEquals(List.of(), leftovers());
        assertEquals(ExitCode.FAILED, hv("vm", "status", "kept1").exit());
    }

    private static JsonNode ioThread(JsonNode pool, String id) {
        for (JsonNode t : pool) {
            if (t.get("id").asText().equals(id)) {
                return t;
            }
        }
        throw new AssertionError("no IOThread " + id + " in " + pool);
    }

    /** The kernel's view: {@code Cpus_allowed_list} of one of QEMU's threads. */
    private static String cpusAllowed(long pid, long tid) throws IOException {
        return Files.readAllLines(Path.of("/proc", Long.toString(pid), "task", Long.toString(tid), "status")).stream()
                .filter(l -> l.startsWith("Cpus_allowed_list:")).map(l -> l.substring(l.indexOf(':') + 1).strip())
                .findFirst().orElseThrow();
    }

    @Test
    void aPinIsAppliedKeptAcrossHvctlCallsAndShownInTablesAndJson() throws IOException {
        int cpus = Runtime.getRuntime().availableProcessors();
        org.junit.jupiter.api.Assumptions.assumeTrue(cpus >= 2, "pinning is visible with two CPUs or more");
        String last = Integer.toString(cpus - 1);
        JsonNode run = json("run", "--accel", "tcg", "--keep", "--vm-id", "pin1", "--disks", "1", "--json");
        long pid = run.get("pid").asLong();
        pids.add(pid);

        JsonNode pinned = ioThread(json("vm", "iothreads", "pin1", "--pin", "indep_iothread_1=" + last, "--json"),
                "indep_iothread_1");
        assertEquals(last, pinned.get("pinned").asText());
        assertEquals(last, pinned.get("affinity").asText());
        assertEquals(last, cpusAllowed(pid, pinned.get("hostThreadId").asLong()));

        JsonNode later = json("vm", "iothreads", "pin1", "--json");
        assertEquals(last, ioThread(later, "indep_iothread_1").get("pinned").asText(), "a later hvctl call reports it");
        assertFalse(ioThread(later, "indep_iothread_0").has("pinned"));
        assertEquals("0-" + last, ioThread(later, "indep_iothread_0").get("affinity").asText(), "others untouched");

        HvctlRunner.Result table = hv("vm", "iothreads", "pin1");
        assertEquals(0, table.exit(), table::toString);
        assertTrue(table.out().lines().anyMatch(l -> l.contains("AFFINITY") && l.contains("PINNED")), table.out());
        assertTrue(table.out().lines().anyMatch(l -> l.matches("indep_iothread_1 .* " + last + " +" + last)),
                table.out());

        HvctlRunner.Result absent = hv("vm", "iothreads", "pin1", "--pin", "indep_iothread_1=4095");
        assertEquals(ExitCode.FAILED, absent.exit(), absent::toString);
        assertTrue(absent.err().contains("4095") && absent.err().contains("does not have"), absent.err());

        JsonNode unpinned = json("vm", "iothreads", "pin1", "--unpin", "indep_iothread_1", "--json");
        assertFalse(ioThread(unpinned, "indep_iothread_1").has("pinned"));
        assertEquals("0-" + last, cpusAllowed(pid, pinned.get("hostThreadId").asLong()));
        assertEquals(0, hv("vm", "stop", "pin1").exit());
    }

    @Test
    void runHonoursThePoolCpuSetOfItsConfiguration() throws IOException {
        int cpus = Runtime.getRuntime().availableProcessors();
        org.junit.jupiter.api.Assumptions.assumeTrue(cpus >= 2, "pinning is visible with two CPUs or more");
        String last = Integer.toString(cpus - 1);
        String bundled = Files.readString(HvctlRunner.home().resolve("etc/configuration.toml"));
        Path config = runtime.resolve("pinned.toml");
        Files.writeString(config, bundled.replace("[hypervisor.qemu]\n",
                "[hypervisor.qemu]\nindep_iothreads_cpus = \"" + last + "\"\n"));
        JsonNode run = json("run", config.toString(), "--accel", "tcg", "--keep", "--vm-id", "cpus1", "--disks", "1",
                "--json");
        long pid = run.get("pid").asLong();
        pids.add(pid);
        JsonNode status = json("vm", "status", "cpus1", "--json");
        assertEquals(4, status.get("iothreads").size());
        for (JsonNode t : status.get("iothreads")) {
            assertEquals(last, t.get("pinned").asText(), t::toString);
            assertEquals(last, cpusAllowed(pid, t.get("hostThreadId").asLong()), t::toString);
        }
        for (JsonNode t : status.get("hostThreads")) {
            if (t.get("role").asText().equals("VCPU")) {
                assertEquals("0-" + last, t.get("affinity").asText(), "vCPUs keep every CPU: " + t);
            }
        }
        assertEquals(0, hv("vm", "stop", "cpus1").exit());
    }

    /** A VM run with --keep whose QEMU was then killed: its record and directory stay. */
    private void keptVmWhoseQemuDied(String id, int disks) throws Exception {
        JsonNode run = json("run", "--accel", "tcg", "--keep", "--vm-id", id, "--disks", Integer.toString(disks),
                "--json");
        ProcessHandle qemu = ProcessHandle.of(run.get("pid").asLong()).orElseThrow();
        qemu.destroyForcibly();
        qemu.onExit().get();
    }

    @Test
    void stoppingAVmWhoseQemuDiedForgetsIt() throws Exception {
        keptVmWhoseQemuDied("dead1", 1);
        HvctlRunner.Result stop = hv("vm", "stop", "dead1");
        assertEquals(0, stop.exit(), stop::toString);
        assertTrue(stop.err().contains("was not running"), stop.err());
        assertEquals(List.of(), leftovers());
    }

    /**
     * vm logs of a dead VM: characters across the 64 KiB read boundary come out whole, and --follow
     * ends at once when the recorded pid is another live process's (1) or none (0): liveness is the
     * verified VMM identity, not the raw pid.
     */
    @Test
    void vmLogsOfADeadVmIsWholeAndFollowEnds() throws Exception {
        keptVmWhoseQemuDied("logs1", 0);
        Path log = runtime.resolve("logs1").resolve("qemu.log"); // the qemu plugin's VMM log
        // 'é' (2 bytes) and '€' (3 bytes) each straddle a 64 KiB boundary
        long size = Files.size(log);
        StringBuilder text = new StringBuilder("x".repeat((int) (65535 - size))).append('é');
        text.append("y".repeat(131071 - 65537 - 1)).append('€').append("end\n");
        Files.writeString(log, text, java.nio.file.StandardOpenOption.APPEND);
        String expected = Files.readString(log);
        Path record = runtime.resolve("logs1").resolve("vm.json");
        for (int pid : new int[] {1, 0}) {
            com.fasterxml.jackson.databind.node.ObjectNode doc = (com.fasterxml.jackson.databind.node.ObjectNode)
                    JSON.readTree(record.toFile());
            doc.put("pid", pid);
            doc.remove("vmm");
            Files.writeString(record, JSON.writeValueAsString(doc));
            for (String[] args : List.of(new String[] {"vm", "logs", "logs1"}, new String[] {"vm", "logs", "-f", "logs1"})) {
                HvctlRunner.Result r = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(
                        java.time.Duration.ofSeconds(60), () -> hv(args), "vm logs -f of a dead VM must end (pid "
                                + pid + ")");
                assertEquals(0, r.exit(), r::toString);
                assertEquals(expected.length(), r.out().length(), "pid " + pid);
                assertTrue(r.out().equals(expected), "the log as written, byte for byte (pid " + pid + ")");
            }
        }
    }

    @Test
    void aCorruptRecordIsOneRowOfTheListAndCanStillBeStopped() throws IOException {
        Path dir = Files.createDirectory(runtime.resolve("broken"),
                java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                        java.nio.file.attribute.PosixFilePermissions.fromString("rwx------")));
        Files.writeString(dir.resolve("vm.json"), "{\"vmId\": \"broken\", garbage");
        JsonNode list = json("vm", "list", "--json");
        assertEquals(1, list.size(), list.toString());
        assertEquals("broken", list.get(0).get("id").asText());
        assertTrue(list.get(0).get("corrupt").asText().contains("vm.json"), list.toString());
        HvctlRunner.Result table = hv("vm", "list");
        assertEquals(0, table.exit(), table::toString);
        assertTrue(table.out().contains("corrupt"), table::toString);
        HvctlRunner.Result stop = hv("vm", "stop", "broken");
        assertEquals(0, stop.exit(), stop::toString);
        assertEquals(List.of(), leftovers());
    }

    @ParameterizedTest
    @CsvSource({"configuration-clh.toml, disk0_q0", "configuration-dragonball.toml, blk_iothread_q0"})
    void simulatedVmmsShowTheirOwnIoThreads(String config, String firstThread) throws IOException {
        JsonNode vm = json("run", fixture(config).toString(), "--simulate", "--disks", "2", "--json");
        assertEquals(List.of("disk0", "disk1"), field(vm.get("devices"), "id"));
        assertEquals(firstThread, vm.get("devices").get(0).get("servedBy").asText());
        assertEquals(0, vm.get("iothreads").size());
        assertEquals(List.of(), leftovers());
    }

    /** A simulated run's simulator directory is not a VM id: a VM named "<id>.sim" is left alone. */
    @Test
    void aSimulatedRunLeavesAVmNamedLikeItsSimulatorAlone() throws IOException {
        Path other = Files.createDirectory(runtime.resolve("sim1.sim"));
        Files.writeString(other.resolve("marker"), "another VM's file");
        HvctlRunner.Result r = hv("run", fixture("configuration-clh.toml").toString(), "--simulate", "--vm-id", "sim1",
                "--disks", "1");
        assertEquals(0, r.exit(), r::toString);
        assertEquals("another VM's file", Files.readString(other.resolve("marker")));
        assertEquals(List.of(other), leftovers(), "the simulator's own directory is gone");
    }

    /** A simulated run killed with SIGKILL leaves its VM and its simulator's directory; vm stop removes both. */
    @Test
    void vmStopRemovesWhatAKilledSimulatedRunLeft() throws Exception {
        HvctlRunner.Result killed = HvctlRunner.killedAt("] attached disk0", List.of("run",
                fixture("configuration-clh.toml").toString(), "--simulate", "--vm-id", "sim2", "--disks", "8",
                "--runtime-dir", runtime.toString()));
        assertEquals(137, killed.exit(), killed::toString);
        assertTrue(Files.isDirectory(runtime.resolve(".sim2.sim")), "the killed run's simulator directory");
        JsonNode list = json("vm", "list", "--json");
        assertEquals(List.of("sim2"), field(list, "id"), "only the VM is listed");
        HvctlRunner.Result stop = hv("vm", "stop", "sim2");
        assertEquals(0, stop.exit(), stop::toString);
        assertEquals(List.of(), leftovers());
    }

    /**
     * Two simulated runs of one VM id at once: the second refuses in one line and never touches the
     * first's simulator, which runs on to a clean end. The first is a process of its own, stopped
     * (SIGSTOP) once its VM is up and continued after the second has ended.
     */
    @Test
    void aSecondSimulatedRunOfOneIdLeavesTheFirstsSimulatorAlone() throws Exception {
        List<String> command = new ArrayList<>(List.of(HvctlRunner.home().resolve("bin/hvctl").toString(), "run",
                fixture("configuration-clh.toml").toString(), "--simulate", "--vm-id", "twice", "--disks", "1",
                "--runtime-dir", runtime.toString()));
        ProcessBuilder pb = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().put("HVSPI_JAVA_HOME", System.getProperty("java.home"));
        Process first = pb.start();
        pids.add(first.pid());
        StringBuilder firstErr = new StringBuilder();
        Path sim = runtime.resolve(".twice.sim");
        try (java.io.BufferedReader lines = first.errorReader()) {
            String line;
            while ((line = lines.readLine()) != null && !line.contains("] attached disk0")) {
                firstErr.append(line).append('\n');
            }
            assertTrue(line != null, firstErr::toString);
            signal("STOP", first.pid());
            try {
                List<Path> before;
                try (Stream<Path> files = Files.list(sim)) {
                    before = files.sorted().toList();
                }
                HvctlRunner.Result second = hv("run", fixture("configuration-clh.toml").toString(), "--simulate",
                        "--vm-id", "twice", "--disks", "1");
                assertEquals(ExitCode.FAILED, second.exit(), second::toString);
                assertEquals(List.of("hvctl: error: VM 'twice' is in use: the simulated run in pid " + first.pid()
                        + " keeps its simulator in " + sim + "; choose another --vm-id"),
                        second.err().lines().filter(l -> l.startsWith("hvctl: ")).toList(), second::toString);
                try (Stream<Path> files = Files.list(sim)) {
                    assertEquals(before, files.sorted().toList(), "the first run's simulator is untouched");
                }
                // the first run holds the VM's lock: vm stop gives up, and --json still prints its document
                HvctlRunner.Result stop = hv("vm", "stop", "twice", "--timeout", "1", "--json");
                assertEquals(ExitCode.VMM_UNAVAILABLE, stop.exit(), stop::toString);
                JsonNode doc = JSON.readTree(stop.out());
                assertEquals(0, doc.get("stopped").size(), stop::toString);
                assertEquals("twice", doc.get("failed").get(0).get("id").asText(), stop::toString);
                assertTrue(doc.get("failed").get(0).get("error").asText().contains("locked by pid " + first.pid()),
                        stop::toString);
                HvctlRunner.Result several = hv("vm", "stop", "twice", "gone", "--timeout", "1", "--json");
                assertEquals(ExitCode.VMM_UNAVAILABLE, several.exit(), several::toString);
                JsonNode both = JSON.readTree(several.out());
                assertEquals(1, both.get("failed").size(), several::toString);
                assertEquals("gone", both.get("absent").get(0).asText(), several::toString);
                assertTrue(Files.isDirectory(sim), "vm stop leaves a live run's simulator alone");
            } finally {
                signal("CONT", first.pid());
            }
            while ((line = lines.readLine()) != null) {
                firstErr.append(line).append('\n');
            }
        }
        assertTrue(first.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), firstErr::toString);
        // the stop above may have ended the VM under it (the VM is not the run's): either way its simulator was its own
        assertFalse(firstErr.toString().contains("internal error"), firstErr::toString);
        assertFalse(Files.exists(sim), "the first run removed its own simulator");
    }

    private static void signal(String name, long pid) throws Exception {
        Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(pid)).inheritIO().start();
        assertEquals(0, kill.waitFor());
    }

    /** A runtime root too long for a simulator's socket is one error line naming the path, as QEMU's is. */
    @ParameterizedTest
    @CsvSource({"configuration-clh.toml, clh-api.sock", "configuration-dragonball.toml, dragonball-bridge.sock"})
    void aSocketPathTooLongForTheSimulatorIsOneErrorLine(String config, String socket) throws IOException {
        Path deep = Files.createDirectories(runtime.resolve("d".repeat(60)).resolve("e".repeat(60)));
        HvctlRunner.Result r = hvctl("run", fixture(config).toString(), "--simulate", "--vm-id", "longpath",
                "--disks", "1", "--runtime-dir", deep.toString());
        assertEquals(ExitCode.FAILED, r.exit(), r::toString);
        List<String> errors = r.err().lines().filter(l -> l.startsWith("hvctl: error:")).toList();
        assertEquals(List.of("hvctl: error: the simulator's socket path " + deep.resolve(".longpath.sim").resolve(socket)
                + " is " + deep.resolve(".longpath.sim").resolve(socket).toString().length() + " bytes, longer than a"
                + " Unix socket allows (107); use a shorter runtime root (--runtime-dir) or VM id"), errors, r::toString);
        assertFalse(r.err().contains("internal error"), r::toString);
        assertFalse(Files.exists(deep.resolve(".longpath.sim")), "nothing left");
    }

    @Test
    void keepWithSimulateIsAUsageError() {
        HvctlRunner.Result r = hv("run", fixture("configuration-clh.toml").toString(), "--simulate", "--keep");
        assertEquals(ExitCode.USAGE, r.exit(), r::toString);
    }
}
