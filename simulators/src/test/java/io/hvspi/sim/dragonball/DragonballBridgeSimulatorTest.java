package io.hvspi.sim.dragonball;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The simulator against docs/dragonball-bridge-protocol.md, through a raw socket client. */
class DragonballBridgeSimulatorTest {
    @TempDir
    Path dir;

    private DragonballBridgeSimulator sim;
    private Path kernel;
    private Path disk;

    @BeforeEach
    void setUp() throws IOException {
        sim = DragonballBridgeSimulator.start(dir);
        kernel = Files.writeString(dir.resolve("vmlinux"), "not a kernel");
        disk = Files.write(dir.resolve("disk.img"), new byte[4096]);
    }

    @AfterEach
    void tearDown() {
        sim.close();
    }

    private String boot() {
        return "{\"kernel_path\":\"" + kernel + "\"}";
    }

    private static String drive(String id, Path path) {
        return "{\"drive_id\":\"" + id + "\",\"path_on_host\":\"" + path + "\",\"use_pci_bus\":true}";
    }

    private RawBridge started() {
        RawBridge b = RawBridge.handshaken(sim.socketPath());
        b.ok("SetVmConfiguration", "{\"pci_hotplug_enabled\":true}");
        b.ok("ConfigureBootSource", boot());
        b.ok("StartMicroVm", null);
        return b;
    }

    private static String message(JsonNode response) {
        return response.path("error").path("message").asText();
    }

    // --- greeting and handshake ------------------------------------------------------------------------------

    @Test
    void greetsWithBridgeNameVersionsAndPidOnAPrivateSocket() throws IOException {
        try (RawBridge b = RawBridge.open(sim.socketPath())) {
            JsonNode g = b.read();
            assertEquals("hvspi-dragonball", g.path("bridge").asText());
            assertEquals("[1]", g.path("versions").toString());
            assertEquals(ProcessHandle.current().pid(), g.path("pid").asLong());
        }
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(sim.socketPath())));
    }

    @Test
    void handshakeWithAnUnsupportedVersionIsRefusedAndClosed() {
        try (RawBridge b = RawBridge.open(sim.socketPath())) {
            b.read();
            b.send("{\"version\":2}");
            JsonNode answer = b.read();
            assertEquals("Bridge.VersionMismatch", answer.path("error").path("kind").asText());
            assertTrue(answer.get("id").isNull());
            assertNull(b.read(), "the bridge closes after a refused handshake");
        }
    }

    @Test
    void aRequestBeforeTheHandshakeIsRefusedAndClosed() {
        try (RawBridge b = RawBridge.open(sim.socketPath())) {
            b.read();
            b.send("{\"id\":1,\"action\":\"StartMicroVm\"}");
            assertEquals("Bridge.HandshakeRequired", b.read().path("error").path("kind").asText());
            assertNull(b.read());
        }
    }

    @Test
    void aBridgeOfferingSeveralVersionsAcceptsEachOfThem() {
        sim.close();
        sim = DragonballBridgeSimulator.start(dir, DragonballBridgeSimulator.Options.defaults().withVersions(1, 2));
        try (RawBridge b = RawBridge.open(sim.socketPath())) {
            assertEquals("[1,2]", b.read().path("versions").toString());
            b.send("{\"version\":2,\"client\":\"test\"}");
            assertEquals(2, b.read().path("version").asInt());
        }
    }

    // --- malformed requests ----------------------------------------------------------------------------------

    @Test
    void malformedRequestsAreAnsweredWithTheirKindAndTheConnectionStaysUsable() {
        try (RawBridge b = RawBridge.handshaken(sim.socketPath())) {
            List<String[]> cases = List.of(
                    new String[] {"{not json", "Bridge.MalformedRequest", "null"},
                    new String[] {"[1,2]", "Bridge.MalformedRequest", "null"},
                    new String[] {"{\"id\":1,\"id\":2,\"action\":\"GetInstanceInfo\"}", "Bridge.MalformedRequest", "null"},
                    new String[] {"{\"id\":1} {\"id\":2}", "Bridge.MalformedRequest", "null"},
                    new String[] {"{\"action\":\"GetInstanceInfo\"}", "Bridge.MissingId", "null"},
                    new String[] {"{\"id\":1.5,\"action\":\"GetInstanceInfo\"}", "Bridge.MissingId", "null"},
                    new String[] {"{\"id\":\"a\"}", "Bridge.MalformedRequest", "\"a\""},
                    new String[] {"{\"id\":\"b\",\"action\":\"GetInstanceInfo\",\"extra\":1}", "Bridge.MalformedRequest",
                            "\"b\""},
                    new String[] {"{\"id\":7,\"action\":\"FlyToTheMoon\"}", "Bridge.UnknownAction", "7"},
                    new String[] {"{\"id\":8,\"action\":\"StartMicroVm\",\"config\":{\"now\":true}}",
                            "Bridge.InvalidConfig", "8"},
                    new String[] {"{\"id\":9,\"action\":\"InsertBlockDevice\",\"config\":{\"drive_id\":\"d\"}}",
                            "Bridge.InvalidConfig", "9"},
                    new String[] {"{\"id\":10,\"action\":\"InsertBlockDevice\",\"config\":{\"drive_id\":\"d\","
                            + "\"path_on_host\":\"/x\",\"num_queues\":\"two\"}}", "Bridge.InvalidConfig", "10"},
                    new String[] {"{\"id\":11,\"action\":\"ConfigureBootSource\",\"config\":{\"kernel_path\":\"/k\","
                            + "\"kernel_args\":\"\"}}", "Bridge.InvalidConfig", "11"},
                    new String[] {"{\"id\":12,\"action\":\"SetVmConfiguration\",\"config\":{\"vcpu_count\":256}}",
                            "Bridge.InvalidConfig", "12"});
            for (String[] c : cases) {
                b.send(c[0]);
                JsonNode answer = b.read();
                assertEquals(c[1], answer.path("error").path("kind").asText(), c[0]);
                assertEquals(c[2], answer.get("id").toString(), c[0]);
                assertFalse(message(answer).isBlank(), c[0]);
            }
            b.send("");
            b.send("   ");
            assertEquals("Uninitialized", b.ok("GetInstanceInfo", null).path("state").asText(),
                    "blank lines are skipped and the connection still answers");
        }
    }

    @Test
    void invalidConfigNamesTheField() {
        try (RawBridge b = RawBridge.handshaken(sim.socketPath())) {
            JsonNode r = b.call("InsertBlockDevice", "{\"drive_id\":\"d\",\"path_on_host\":\"/x\",\"frobnicate\":1}");
            assertTrue(message(r).contains("unknown field 'frobnicate'"), message(r));
            r = b.call("InsertBlockDevice", "{\"path_on_host\":\"/x\"}");
            assertTrue(message(r).contains("missing field 'drive_id'"), message(r));
        }
    }

    @Test
    void aLineOverTheCapIsAnsweredWithLineTooLongAndTheConnectionClosed() {
        sim.close();
        sim = DragonballBridgeSimulator.start(dir, DragonballBridgeSimulator.Options.defaults().withMaxLineBytes(64));
        try (RawBridge b = RawBridge.handshaken(sim.socketPath())) {
            b.send("{\"id\":1,\"action\":\"GetInstanceInfo\"}"); // 38 bytes: fine
            assertTrue(b.read().has("result"));
            byte[] big = new byte[65];
            Arrays.fill(big, (byte) ' ');
            b.sendBytes(big);
            JsonNode answer = b.read();
            assertEquals("Bridge.LineTooLong", answer.path("error").path("kind").asText());
            assertTrue(answer.get("id").isNull());
            assertNull(b.read());
        }
    }

    @Test
    void stringIdsAreEchoedUnchanged() {
        try (RawBridge b = RawBridge.handshaken(sim.socketPath())) {
            b.send("{\"id\":\"req-\\u00e9\",\"action\":\"GetVmConfiguration\"}");
            JsonNode r = b.read();
            assertEquals("req-\u00e9", r.path("id").asText());
            assertEquals(128, r.path("result").path("mem_size_mib").asInt(), "Dragonball's default memory");
        }
    }

    // --- lifecycle rules ---------------------------------------------------------------------------------------

    @Test
    void lifecycleFollowsDragonballsStateRules() {
        try (RawBridge b = RawBridge.handshaken(sim.socketPath())) {
            assertEquals("StartMicroVm.MissingKernelConfig", b.errorKind("StartMicroVm", null));
            JsonNode early = b.call("PauseMicroVm", null);
            assertEquals("PauseMicrovm.VcpuManagerNotInitialized", early.path("error").path("kind").asText());
            assertEquals("failed to pause the VM: vcpu manager is not initialized", message(early));
            assertEquals("ResumeMicrovm.VcpuManagerNotInitialized", b.errorKind("ResumeMicroVm", null));
            b.ok("ConfigureBootSource", boot());
            b.ok("SetVmConfiguration", "{\"vcpu_count\":2,\"max_vcpu_count\":2,\"mem_size_mib\":256}");
            b.ok("StartMicroVm", null);
            assertEquals("Running", b.ok("GetInstanceInfo", null).path("state").asText());
            assertEquals("StartMicroVm.MicroVMAlreadyRunning", b.errorKind("StartMicroVm", null));
            assertEquals("BootSource.UpdateNotAllowedPostBoot", b.errorKind("ConfigureBootSource", boot()));
            assertEquals("MachineConfig.UpdateNotAllowedPostBoot", b.errorKind("SetVmConfiguration", "{}"));
            b.ok("ResumeMicroVm", null); // resuming a running VM is not refused
            assertEquals("Running", sim.instanceState());
            b.ok("PauseMicroVm", null);
            assertEquals("Paused", sim.instanceState());
            b.ok("PauseMicroVm", null); // nor is pausing a paused one
            assertEquals("Paused", sim.instanceState());
            b.ok("ResumeMicroVm", null);
            assertEquals("Running", sim.instanceState());
        }
    }

    @Test
    void bootSourceAndMachineConfigErrorsCarryDragonballsVariantsAndTexts() {
        try (RawBridge b = RawBridge.handshaken(sim.socketPath())) {
            JsonNode r = b.call("ConfigureBootSource", "{\"kernel_path\":\"" + dir.resolve("missing") + "\"}");
            assertEquals("BootSource.InvalidKernelPath", r.path("error").path("kind").asText());
            assertEquals("failed to configure boot source for VM: the kernel file cannot be opened due to invalid "
                    + "kernel path or invalid permissions: No such file or directory (os error 2)", message(r));
            assertEquals("BootSource.InvalidInitrdPath", b.errorKind("ConfigureBootSource",
                    "{\"kernel_path\":\"" + kernel + "\",\"initrd_path\":\"/nonexistent/initrd\"}"));
            assertEquals("BootSource.InvalidKernelCommandLine", b.errorKind("ConfigureBootSource",
                    "{\"kernel_path\":\"" + kernel + "\",\"boot_args\":\"console=ttyS0\\u0007\"}"));
            r = b.call("SetVmConfiguration", "{\"mem_size_mib\":255}");
            assertEquals("MachineConfig.InvalidMemorySize", r.path("error").path("kind").asText());
            assertEquals("failed to set configuration for the VM: the memory size 0xffMiB is invalid", message(r));
            assertEquals("MachineConfig.InvalidVcpuCount", b.errorKind("SetVmConfiguration", "{\"vcpu_count\":0}"));
            assertEquals("MachineConfig.InvalidMaxVcpuCount",
                    b.errorKind("SetVmConfiguration", "{\"vcpu_count\":4,\"max_vcpu_count\":2}"));
            assertEquals("MachineConfig.InvalidThreadsPerCore", b.errorKind("SetVmConfiguration",
                    "{\"cpu_topology\":{\"threads_per_core\":3}}"));
            assertEquals("MachineConfig.InvalidMemFilePath",
                    b.errorKind("SetVmConfiguration", "{\"mem_type\":\"hugetlbfs\"}"));
            assertEquals(128, b.ok("GetVmConfiguration", null).path("mem_size_mib").asInt(),
                    "a refused configuration changes nothing");
        }
    }

    @Test
    void startRunsOneNamedThreadPerVcpuAndListsThem() throws IOException {
        try (RawBridge b = RawBridge.handshaken(sim.socketPath())) {
            b.ok("ConfigureBootSource", boot());
            b.ok("SetVmConfiguration", "{\"vcpu_count\":2,\"max_vcpu_count\":2}");
            b.ok("StartMicroVm", null);
            JsonNode info = b.ok("GetInstanceInfo", null);
            assertEquals(2, info.path("tids").size());
            JsonNode threads = b.ok("ListThreads", null);
            List<String> names = new ArrayList<>();
            for (JsonNode t : threads.path("threads")) {
                names.add(t.path("name").asText());
                assertEquals(t.path("name").asText(), comm(threads.path("pid").asLong(), t.path("tid").asLong()));
            }
            assertEquals(List.of("vmm_master", "db_vcpu0", "db_vcpu1"), names);
            assertEquals(info.path("master_tid").asLong(), threads.path("threads").get(0).path("tid").asLong());
        }
    }

    @Test
    void shutdownAnswersThenTheVmmGoesAway() throws InterruptedException {
        try (RawBridge b = started()) {
            assertTrue(b.ok("ShutdownMicroVm", null).isNull());
            assertNull(b.read(), "the connection closes after the answer");
            assertTrue(sim.awaitTermination(Duration.ofSeconds(5)));
            assertTrue(Files.exists(sim.socketPath()), "the socket file stays, as after a process exit");
            assertThrows(UncheckedIOException.class, () -> RawBridge.open(sim.socketPath()));
        }
    }

    // --- block device rules ------------------------------------------------------------------------------------

    @Test
    void hotplugRunsOneBlkIothreadPerQueueAndRemovalEndsThem() throws IOException {
        try (RawBridge b = started()) {
            JsonNode result = b.ok("InsertBlockDevice", "{\"drive_id\":\"d0\",\"path_on_host\":\"" + disk
                    + "\",\"num_queues\":2,\"use_pci_bus\":true}");
            assertEquals(1, result.path("slot").asInt());
            List<Long> blk = blkThreads(b);
            assertEquals(2, blk.size());
            long pid = ProcessHandle.current().pid();
            assertEquals("blk_iothread_q0", comm(pid, blk.get(0)));
            assertEquals("blk_iothread_q1", comm(pid, blk.get(1)));
            for (JsonNode t : b.ok("ListThreads", null).path("threads")) {
                if (t.path("name").asText().startsWith("blk_iothread_q")) {
                    assertEquals("d0", t.path("drive_id").asText(), "queue threads name the drive they serve");
                }
            }
            b.ok("PrepareRemoveBlockDevice", "{\"drive_id\":\"d0\"}");
            b.ok("RemoveBlockDevice", "{\"drive_id\":\"d0\"}");
            assertEquals(List.of(), blkThreads(b));
            assertFalse(Files.exists(Path.of("/proc", Long.toString(pid), "task", Long.toString(blk.get(0)))),
                    "the queue thread is gone from the host");
            assertEquals(List.of(), sim.driveIds());
        }
    }

    /** Dragonball records a hotplugged drive before opening its file and keeps the entry when that fails. */
    @Test
    void aDriveWhoseFileDoesNotOpenLeavesItsEntryUntilRemoved() throws IOException {
        Path notAFile = Files.createDirectory(dir.resolve("a-directory"));
        try (RawBridge b = started()) {
            String config = "{\"drive_id\":\"d0\",\"path_on_host\":\"" + notAFile + "\"}";
            JsonNode failed = b.call("InsertBlockDevice", config);
            assertEquals("Block.Virtio", failed.path("error").path("kind").asText());
            assertEquals("virtio-blk device error: IO: Is a directory (os error 21).", message(failed));
            assertEquals(List.of("d0"), sim.driveIds(), "the entry create() made stays");
            assertEquals("Block.BlockDevicePathAlreadyExists", b.errorKind("InsertBlockDevice",
                    "{\"drive_id\":\"d0\",\"path_on_host\":\"" + disk + "\"}"));
            b.ok("RemoveBlockDevice", "{\"drive_id\":\"d0\"}");
            assertEquals(List.of(), sim.driveIds());
            b.ok("InsertBlockDevice", "{\"drive_id\":\"d0\",\"path_on_host\":\"" + disk + "\"}");
        }
    }

    @Test
    void mmioDrivesGetNoSlotAndColdDrivesGetThreadsAtStart() throws IOException {
        try (RawBridge b = RawBridge.handshaken(sim.socketPath())) {
            JsonNode cold = b.ok("InsertBlockDevice", drive("cold", disk));
            assertTrue(cold.path("slot").isNull(), "a cold drive has no slot yet");
            assertEquals(List.of(), blkThreads(b));
            b.ok("ConfigureBootSource", boot());
            b.ok("StartMicroVm", null);
            assertEquals(1, blkThreads(b).size());
            JsonNode mmio = b.ok("InsertBlockDevice", "{\"drive_id\":\"m\",\"path_on_host\":\"" + kernel + "\"}");
            assertEquals(0, mmio.path("slot").asInt(), "Dragonball's callback sends the 0 it starts from");
            Path third = Files.write(dir.resolve("third.img"), new byte[512]);
            JsonNode pci = b.call("InsertBlockDevice", "{\"drive_id\":\"p\",\"path_on_host\":\"" + third
                    + "\",\"use_pci_bus\":true}");
            assertEquals("Block.DeviceManager", pci.path("error").path("kind").asText(),
                    "no PCI hotplug without pci_hotplug_enabled");
            assertEquals("virtio-blk device error: device manager errors: invalid device manager operation",
                    message(pci));
            assertEquals(List.of("cold", "m"), sim.driveIds(), "the refused drive's entry is removed again");
        }
    }

    @Test
    void blockDeviceRulesAnswerWithDragonballsBlockDeviceErrorVariants() throws IOException {
        Path other = Files.write(dir.resolve("other.img"), new byte[512]);
        try (RawBridge b = started()) {
            b.ok("InsertBlockDevice", drive("d0", disk));
            JsonNode dup = b.call("InsertBlockDevice", drive("d0", other));
            // Dragonball has no runtime update: a known drive id is reported as a path conflict.
            assertEquals("Block.BlockDevicePathAlreadyExists", dup.path("error").path("kind").asText());
            assertEquals("virtio-blk device error: block device path '" + other + "' already exists", message(dup));
            assertEquals("Block.BlockDevicePathAlreadyExists", b.errorKind("InsertBlockDevice", drive("d1", disk)));
            JsonNode missing = b.call("InsertBlockDevice", drive("d2", dir.resolve("nope.img")));
            assertEquals("Block.InvalidBlockDevicePath", missing.path("error").path("kind").asText());
            assertEquals("virtio-blk device error: invalid block device path '" + dir.resolve("nope.img") + "'",
                    message(missing));
            assertEquals("Block.InvalidBlockDeviceType", b.errorKind("InsertBlockDevice",
                    "{\"drive_id\":\"s\",\"device_type\":\"Spdk\",\"path_on_host\":\"spdk:/x\"}"));
            JsonNode unknown = b.call("PrepareRemoveBlockDevice", "{\"drive_id\":\"ghost\"}");
            assertEquals("Block.InvalidDeviceId", unknown.path("error").path("kind").asText());
            assertEquals("virtio-blk device error: invalid block device id 'ghost'", message(unknown));
            assertEquals("Block.InvalidDeviceId", b.errorKind("RemoveBlockDevice", "{\"drive_id\":\"ghost\"}"));
            b.ok("InsertBlockDevice", "{\"drive_id\":\"root\",\"path_on_host\":\"" + other + "\",\"is_root_device\":true}");
            assertEquals("Block.RootBlockDeviceAlreadyAdded", b.errorKind("InsertBlockDevice",
                    "{\"drive_id\":\"root2\",\"path_on_host\":\"" + kernel + "\",\"is_root_device\":true}"));
            assertEquals(List.of("root", "d0"), sim.driveIds(), "the root device is always first");
        }
    }

    @Test
    void networkDevicesFollowDragonballsNetManagerRules() {
        try (RawBridge b = RawBridge.handshaken(sim.socketPath())) {
            String nic0 = "{\"iface_id\":\"nic0\",\"host_dev_name\":\"hvtdb0\",\"guest_mac\":\"0A:00:00:00:00:01\"}";
            b.ok("InsertNetworkDevice", nic0);
            // before start a known iface_id updates the entry (insert_or_update)
            b.ok("InsertNetworkDevice", "{\"iface_id\":\"nic0\",\"host_dev_name\":\"hvtdb0\",\"num_queues\":2}");
            b.ok("ConfigureBootSource", boot());
            b.ok("StartMicroVm", null);
            JsonNode unnamed = b.call("InsertNetworkDevice", "{\"iface_id\":\"\",\"host_dev_name\":\"hvtdb1\"}");
            assertEquals("Network.MissingIfaceId", unnamed.path("error").path("kind").asText());
            assertEquals("network device error: no iface id supplied for the network device", message(unnamed));
            b.ok("InsertNetworkDevice", "{\"iface_id\":\"n1\",\"host_dev_name\":\"hvtdb1\",\"guest_mac\":\"0a:00:00:00:00:02\"}");
            JsonNode mac = b.call("InsertNetworkDevice",
                    "{\"iface_id\":\"n2\",\"host_dev_name\":\"hvtdb2\",\"guest_mac\":\"0a:00:00:00:00:02\"}");
            assertEquals("Network.GuestMacAddressInUse", mac.path("error").path("kind").asText());
            assertEquals("network device error: the guest MAC address 0a:00:00:00:00:02 is already in use", message(mac));
            JsonNode host = b.call("InsertNetworkDevice", "{\"iface_id\":\"n2\",\"host_dev_name\":\"hvtdb1\"}");
            assertEquals("Network.HostDeviceNameInUse", host.path("error").path("kind").asText());
            assertEquals("Network.DeviceIDAlreadyExist",
                    b.errorKind("InsertNetworkDevice", "{\"iface_id\":\"n1\",\"host_dev_name\":\"hvtdb9\"}"));
            JsonNode notATap = b.call("InsertNetworkDevice", "{\"iface_id\":\"n3\",\"host_dev_name\":\"lo\"}");
            assertEquals("Network.CreateNetDevice", notATap.path("error").path("kind").asText());
            assertTrue(message(notATap).startsWith("network device error: cannot create network device: "),
                    message(notATap));
            assertTrue(message(notATap).endsWith("Invalid argument (os error 22)"), message(notATap));
            assertEquals("Bridge.InvalidConfig", b.errorKind("InsertNetworkDevice",
                    "{\"iface_id\":\"n4\",\"host_dev_name\":\"hvtdb4\",\"guest_mac\":\"52:54:00\"}"));
            assertEquals("Bridge.InvalidConfig", b.errorKind("InsertNetworkDevice", "{\"iface_id\":\"n5\"}"),
                    "host_dev_name is required");
            assertEquals(List.of("nic0", "n1"), sim.netIds(), "refused requests leave no entry");
            JsonNode unknown = b.call("RemoveNetworkDevice", "{\"iface_id\":\"ghost\"}");
            assertEquals("Network.InvalidIfaceId", unknown.path("error").path("kind").asText());
            assertEquals("network device error: invalid network iface id 'ghost'", message(unknown));
            b.ok("RemoveNetworkDevice", "{\"iface_id\":\"nic0\"}");
            b.ok("PauseMicroVm", null);
            assertEquals("UpcallServerNotReady", b.errorKind("RemoveNetworkDevice", "{\"iface_id\":\"n1\"}"),
                    "a paused guest cannot release the device");
            assertEquals(List.of("n1"), sim.netIds());
        }
    }

    @Test
    void hotplugWaitsForTheGuestsUpcallChannel() {
        sim.close();
        sim = DragonballBridgeSimulator.start(dir,
                DragonballBridgeSimulator.Options.defaults().withUpcallNotReadyAfterStart(2));
        try (RawBridge b = started()) {
            JsonNode r = b.call("InsertBlockDevice", drive("d0", disk));
            assertEquals("UpcallServerNotReady", r.path("error").path("kind").asText());
            assertEquals("Upcall not ready, can't hotplug device.", message(r));
            assertEquals("UpcallServerNotReady", b.errorKind("InsertBlockDevice", drive("d0", disk)));
            b.ok("InsertBlockDevice", drive("d0", disk));
            b.ok("PauseMicroVm", null);
            assertEquals("UpcallServerNotReady", b.errorKind("PrepareRemoveBlockDevice", "{\"drive_id\":\"d0\"}"),
                    "a paused guest cannot answer the upcall");
        }
    }

    @Test
    void stalledAndCrashingActionsSimulateAHungAndADeadVmm() throws InterruptedException {
        sim.close();
        sim = DragonballBridgeSimulator.start(dir, DragonballBridgeSimulator.Options.defaults()
                .withStalledActions("GetVmConfiguration").withCrashingActions("StartMicroVm"));
        try (RawBridge b = RawBridge.handshaken(sim.socketPath())) {
            b.send("{\"id\":1,\"action\":\"GetVmConfiguration\"}");
            assertEquals(2, b.call("GetInstanceInfo", null).path("id").asInt() + 1,
                    "the stalled request gets no answer; the next one does");
            b.send("{\"id\":3,\"action\":\"StartMicroVm\"}");
            assertNull(b.read());
            assertTrue(sim.awaitTermination(Duration.ofSeconds(5)));
        }
    }

    private static List<Long> blkThreads(RawBridge b) {
        List<Long> tids = new ArrayList<>();
        for (JsonNode t : b.ok("ListThreads", null).path("threads")) {
            if (t.path("name").asText().startsWith("blk_iothread_q")) {
                tids.add(t.path("tid").asLong());
            }
        }
        return tids;
    }

    private static String comm(long pid, long tid) throws IOException {
        return Files.readString(Path.of("/proc", Long.toString(pid), "task", Long.toString(tid), "comm"),
                StandardCharsets.UTF_8).strip();
    }
}
