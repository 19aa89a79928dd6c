package io.hvspi.guest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Boots the test guest in a QEMU started by hand (no plugin) and drives hotplug over
 * raw QMP: proves the guest, its protocol and {@link GuestConsole} on their own. One
 * VM serves the whole class; each test plugs its own disks and unplugs them.
 */
@Tag("guest")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RawQemuGuestTest {
    private static final Logger LOG = LoggerFactory.getLogger(RawQemuGuestTest.class);
    private static final Duration BOOT = Duration.ofSeconds(90);
    private static final Duration STEP = Duration.ofSeconds(30);
    private static final long MIB = 1024 * 1024;

    private Path dir;
    private TestGuest guest;
    private RawGuestVm vm;
    private String readyKernel;

    @BeforeAll
    void boot(@TempDir Path tempDir) throws IOException {
        dir = tempDir;
        guest = TestGuest.get();
        Path transcript = Path.of("target", "raw-qemu-guest-console.log");
        Files.deleteIfExists(transcript);
        long start = System.nanoTime();
        vm = RawGuestVm.boot(guest, dir, Optional.of(transcript));
        readyKernel = vm.console.awaitReady(BOOT);
        LOG.info("test guest READY {} ms after QEMU started (TCG)", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
    }

    @AfterAll
    void stop() {
        if (vm != null) {
            vm.close();
        }
    }

    @Test
    void guestReportsReadyWithTheKernelItWasBuiltWith() {
        assertEquals(guest.kernelVersion(), readyKernel);
    }

    @Test
    void hotpluggedDiskIsReportedWithItsSerialAndSizeAndItsUnplugIsSeen() throws IOException {
        Path file = sparseFile("seen.img", 64 * MIB);
        vm.hotplug("disk-seen", 1, RawGuestVm.rawFile("node-seen", file));
        GuestDisk disk = vm.console.awaitDiskAdded("disk-seen", STEP);
        assertEquals(64 * MIB, disk.sizeBytes());
        assertEquals("disk-seen", vm.console.disks(STEP).get(disk.name()));

        vm.unplug("disk-seen", "node-seen", STEP);
        vm.console.awaitDiskRemoved(disk.name(), STEP);
        assertFalse(vm.console.disks(STEP).containsKey(disk.name()));
    }

    @Test
    void dataWrittenByTheGuestIsReadOnTheHostAndDataFromTheHostInTheGuest() throws Exception {
        Path file = sparseFile("data.img", 16 * MIB);
        vm.hotplug("disk-data", 2, RawGuestVm.rawFile("node-data", file));
        try {
            GuestDisk disk = vm.console.awaitDiskAdded("disk-data", STEP);
            String token = "hvspi-" + Long.toHexString(ThreadLocalRandom.current().nextLong());
            vm.console.write(disk.name(), token, STEP);
            byte[] expected = Arrays.copyOf((token + "\n").getBytes(StandardCharsets.US_ASCII), 4096);
            assertArrayEquals(expected, firstBlock(file));

            byte[] fromHost = new byte[4096];
            ThreadLocalRandom.current().nextBytes(fromHost);
            byte[] line = "from-host-42\n".getBytes(StandardCharsets.US_ASCII);
            System.arraycopy(line, 0, fromHost, 0, line.length);
            try (RandomAccessFile raw = new RandomAccessFile(file.toFile(), "rw")) {
                raw.write(fromHost);
            }
            BlockRead read = vm.console.read(disk.name(), STEP);
            assertEquals(sha256(fromHost), read.sha256());
            assertEquals("from-host-42", read.text());
        } finally {
            vm.unplug("disk-data", "node-data", STEP);
        }
    }

    @Test
    void fioRunsOnTwoDisksAtOnceAndReportsIops() throws IOException {
        vm.hotplug("disk-fio-file", 3, RawGuestVm.rawFile("node-fio-file", sparseFile("fio.img", 64 * MIB)));
        vm.hotplug("disk-fio-null", 4, RawGuestVm.nullDisk("node-fio-null", 1024 * MIB));
        try {
            String fileDisk = vm.console.awaitDiskAdded("disk-fio-file", STEP).name();
            String nullDisk = vm.console.awaitDiskAdded("disk-fio-null", STEP).name();
            FioResult result = vm.console.fio(List.of(fileDisk, nullDisk), Duration.ofSeconds(2), Map.of(), STEP);
            LOG.info("fio 4k randread iodepth 32, two disks, TCG: {}", result);
            assertTrue(result.iops() > 0, () -> "no IOPS: " + result);
            assertEquals(result.iops(), result.readIops());
            assertEquals(0, result.writeIops());
            assertTrue(result.runtimeMillis() >= 1900, () -> "fio ran shorter than asked: " + result);
        } finally {
            vm.unplug("disk-fio-file", "node-fio-file", STEP);
            vm.unplug("disk-fio-null", "node-fio-null", STEP);
        }
    }

    @Test
    void commandOnADiskThatIsNotThereIsAGuestError() {
        GuestException e = assertThrows(GuestException.class, () -> vm.console.read("vdz", STEP));
        assertEquals("guest command 'read vdz' failed: no block device 'vdz'", e.getMessage());
    }

    private Path sparseFile(String name, long size) throws IOException {
        Path file = dir.resolve(name);
        try (RandomAccessFile raw = new RandomAccessFile(file.toFile(), "rw")) {
            raw.setLength(size);
        }
        return file;
    }

    private static byte[] firstBlock(Path file) throws IOException {
        return Arrays.copyOf(Files.readAllBytes(file), 4096);
    }

    private static String sha256(byte[] bytes) throws NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }
}
