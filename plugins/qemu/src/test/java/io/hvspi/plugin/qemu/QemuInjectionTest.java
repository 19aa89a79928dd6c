package io.hvspi.plugin.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.hvspi.core.state.DefaultHostContext;
import io.hvspi.plugin.qemu.cmdline.QemuCommandLine;
import io.hvspi.plugin.qemu.process.RuntimeLayout;
import io.hvspi.plugin.qemu.qmp.QmpClient;
import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.BlockDevice;
import io.hvspi.spi.BlockDeviceSpec;
import io.hvspi.spi.DeviceHotplug;
import io.hvspi.spi.IOThreadChoice;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.IOThreadProvider;
import io.hvspi.spi.RequestRejectedException;
import io.hvspi.spi.RequestRejectedException.Reason;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * Paths and ids that try to inject QEMU options (commas, {@code =}, newlines, a
 * leading {@code -}), on real QEMU 7.2: a path reaches QEMU as exactly the named
 * file, through QMP's JSON or, on the command line, with its commas doubled
 * (checked by what QEMU reports and by the files its process holds open); an id is
 * refused with a one-line error before QEMU sees anything.
 */
class QemuInjectionTest {
    @TempDir
    Path tmp;

    private final List<QemuHypervisor> started = new ArrayList<>();

    @AfterEach
    void stop() {
        started.forEach(QemuHypervisor::stop);
    }

    private QemuHypervisor start(VmSpec spec, DefaultHostContext host) {
        QemuHypervisor vm = (QemuHypervisor) new QemuHypervisorFactory().create(spec, host);
        started.add(vm);
        vm.start();
        return vm;
    }

    private static Path file(Path dir, String name) throws IOException {
        return Files.write(dir.resolve(name), new byte[1 << 20]);
    }

    /** The files QEMU's process holds open, from {@code /proc/<pid>/fd}. */
    private static Set<String> openFiles(long pid) throws IOException {
        Set<String> out = new TreeSet<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    out.add(Files.readSymbolicLink(fd).toString());
                } catch (IOException e) {
                    // closed meanwhile
                }
            }
        }
        return out;
    }

    /** The file names of QEMU's protocol-level ({@code file}) block nodes. */
    private static Set<String> openedByBlockLayer(QemuHypervisor vm) {
        Set<String> out = new TreeSet<>();
        for (JsonNode n : vm.monitorCommand("query-named-block-nodes", QmpClient.args().put("flat", true))) {
            if (n.path("drv").asText().equals("file")) {
                out.add(n.path("file").asText());
            }
        }
        return out;
    }

    @Test
    void hotpluggedPathsWithCommasEqualsNewlinesAndDashesOpenExactlyTheNamedFile() throws IOException {
        DefaultHostContext host = TestVms.host(tmp);
        QemuHypervisor vm = start(TestVms.spec("paths", 1, IOThreadPolicy.FIRST), host);
        long pid = host.stateStore().load("paths").orElseThrow().pid();
        Path images = Files.createDirectory(tmp.resolve("images"));
        // the decoys are what an option parser would open if it split the names
        Path evil = file(images, "evil.img");
        Path disk = file(images, "disk");
        List<Path> hostile = List.of(file(images, "disk,file=evil.img"), file(images, "disk\nfile=evil.img"),
                file(images, "-drive=evil.img"), file(images, "disk,,file=evil.img,"));
        DeviceHotplug hotplug = vm.requireHotplug();
        for (int i = 0; i < hostile.size(); i++) {
            hotplug.attach(BlockDeviceSpec.builder("h" + i, BlockBackend.path(hostile.get(i))).build());
        }
        Set<String> expected = new TreeSet<>(hostile.stream().map(Path::toString).toList());
        assertEquals(expected, openedByBlockLayer(vm), "QEMU's block layer opened exactly the named files");
        Set<String> open = openFiles(pid);
        assertTrue(open.containsAll(expected), "QEMU holds the named files open: " + open);
        assertFalse(open.contains(evil.toString()), "QEMU opened the decoy: " + open);
        assertFalse(open.contains(disk.toString()), "QEMU opened the decoy: " + open);
        assertEquals(List.of("h0", "h1", "h2", "h3"), hotplug.list().stream().map(BlockDevice::id).toList());
        assertEquals(hostile, hotplug.list().stream().map(d -> ((BlockBackend.HostPath) d.backend()).path()).toList());
        for (BlockDevice d : hotplug.list()) {
            hotplug.detach(d.id());
        }
        assertEquals(Set.of(), openedByBlockLayer(vm));
    }

    @Test
    void idsAndNamesThatWouldInjectOptionsAreRefusedOnOneLineBeforeQemuSeesThem() throws IOException {
        DefaultHostContext host = TestVms.host(tmp);
        QemuHypervisor vm = start(TestVms.spec("ids", 2, IOThreadPolicy.FIRST), host);
        DeviceHotplug hotplug = vm.requireHotplug();
        IOThreadProvider pool = vm.requireIoThreads();
        List<String> hostile = List.of("d0,drive=image", "d0\nid=x", "-device", "d=0", "d0 x", "", "d0\u2028x",
                "0d", "d".repeat(300) + ",x");
        for (String id : hostile) {
            refused(Reason.INVALID_ARGUMENT, id, () -> hotplug.attach(
                    BlockDeviceSpec.builder(id, BlockBackend.nullBackend()).build()));
            refused(Reason.INVALID_ARGUMENT, id, () -> pool.add(id));
            refused(Reason.NOT_FOUND, id, () -> hotplug.attach(BlockDeviceSpec.builder("n0", BlockBackend
                    .nullBackend()).ioThread(IOThreadChoice.named(id)).build()));
            refused(Reason.NOT_FOUND, id, () -> hotplug.detach(id));
            refused(Reason.INVALID_ARGUMENT, id, () -> new QemuHypervisorFactory().create(
                    TestVms.spec("ok", 0, IOThreadPolicy.FIRST).withVmId(id), host));
        }
        refused(Reason.INVALID_ARGUMENT, "raw,file=x", () -> hotplug.attach(BlockDeviceSpec.builder("f0",
                BlockBackend.path(file(tmp, "f.img"))).format("raw,file=x").build()));
        refused(Reason.INVALID_ARGUMENT, "virtio-blk-pci,iothread=x", () -> hotplug.attach(BlockDeviceSpec
                .builder("f1", BlockBackend.nullBackend()).driver("virtio-blk-pci,iothread=x").build()));
        refused(Reason.INVALID_ARGUMENT, "relative,file=x", () -> hotplug.attach(BlockDeviceSpec.builder("f2",
                BlockBackend.path(Path.of("relative,file=x"))).build()));
        assertEquals(List.of(), hotplug.list());
        assertEquals(Set.of(), openedByBlockLayer(vm));
        Set<String> peripherals = new TreeSet<>();
        vm.monitorCommand("qom-list", QmpClient.args().put("path", "/machine/peripheral"))
                .forEach(c -> {
                    if (c.path("type").asText().startsWith("child<")) {
                        peripherals.add(c.path("name").asText());
                    }
                });
        assertEquals(Set.of("rp0", "rp1", "rp2", "rp3", "rp4", "rp5", "rp6", "rp7"), peripherals,
                "QEMU got no device");
        assertEquals(2, vm.monitorCommand("query-iothreads", null).size(), "QEMU got no IOThread");
    }

    private static void refused(Reason reason, String input, Executable call) {
        RequestRejectedException e = assertThrows(RequestRejectedException.class, call,
                "accepted: " + input.replace("\n", "\\n"));
        assertEquals(reason, e.reason(), e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), "one line: " + e.getMessage());
        assertFalse(e.getMessage().contains("\u2028"), e.getMessage());
        assertTrue(e.getMessage().length() < 600, "cut: " + e.getMessage().length() + " characters");
    }

    @Test
    void runtimeAndImagePathsWithCommasReachQemuExactlyOnTheCommandLine() throws IOException {
        // a runtime root and a guest image whose names an unescaped option list would split
        Path root = tmp.resolve("r,un=x");
        Path images = Files.createDirectory(tmp.resolve("img,file=evil.img"));
        Path evil = file(tmp, "evil.img");
        Path image = file(images, "root,file=evil.img,read-only=off.img");
        DefaultHostContext host = new DefaultHostContext(root, TestVms.host(tmp).commandTimeout(),
                Map.of(QemuHypervisor.OPTION_START_PAUSED, "true"));
        VmSpec base = TestVms.spec("commas", 1, IOThreadPolicy.FIRST);
        VmSpec spec = base.toBuilder().image(Optional.of(image)).vcpus(1).hotplugSlots(1).build();
        QemuHypervisor vm = start(spec, host);
        VmRecord record = host.stateStore().load("commas").orElseThrow();

        // what QEMU runs is what hvspi built, with the commas doubled in option lists
        List<String> argv = Arrays.asList(new String(Files.readAllBytes(Path.of("/proc",
                Long.toString(record.pid()), "cmdline")), StandardCharsets.UTF_8).split("\0"));
        RuntimeLayout layout = new RuntimeLayout(record.runtimeDir());
        assertEquals(QemuCommandLine.build(spec, layout).argv(), argv);
        String dir = record.runtimeDir().toString().replace(",", ",,");
        assertTrue(argv.contains("socket,id=qmp,path=" + dir + "/qmp.sock,server=on,wait=off"), argv.toString());
        assertTrue(argv.contains("driver=raw,node-name=image,read-only=on,file.driver=file,file.filename="
                + image.toString().replace(",", ",,")), argv.toString());

        // and QEMU made exactly these files, and opened exactly this image, read-only
        assertTrue(Files.exists(layout.qmpSocket()), "QMP socket at " + layout.qmpSocket());
        assertTrue(Files.exists(layout.consoleLog()), "console log at " + layout.consoleLog());
        try (Stream<Path> made = Files.list(root)) {
            assertEquals(List.of(record.runtimeDir()), made.toList(), "nothing made beside the VM's directory");
        }
        assertEquals(Set.of(image.toString()), openedByBlockLayer(vm));
        JsonNode imageNode = null;
        for (JsonNode n : vm.monitorCommand("query-named-block-nodes", QmpClient.args().put("flat", true))) {
            if (n.path("node-name").asText().equals(QemuCommandLine.IMAGE_ID)) {
                imageNode = n;
            }
        }
        assertTrue(imageNode != null && imageNode.path("ro").asBoolean(), "the image is read-only: " + imageNode);
        Set<String> open = openFiles(record.pid());
        assertTrue(open.contains(image.toString()), open.toString());
        assertFalse(open.contains(evil.toString()), open.toString());
    }
}
