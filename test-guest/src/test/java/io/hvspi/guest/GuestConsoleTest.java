package io.hvspi.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.VmmUnavailableException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link GuestConsole} against a socket where the test plays the guest's side. */
class GuestConsoleTest {
    private static final Duration LONG = Duration.ofSeconds(30);
    private static final Duration SHORT = Duration.ofMillis(200);

    @TempDir
    Path dir;

    private ServerSocketChannel server;
    private GuestConsole console;
    private SocketChannel guest;
    private BufferedReader fromHost;

    @BeforeEach
    void connect() throws IOException {
        Path socket = dir.resolve("console.sock");
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX).bind(UnixDomainSocketAddress.of(socket));
        console = GuestConsole.connect(socket, LONG, Optional.of(dir.resolve("console.log")));
        guest = server.accept();
        fromHost = new BufferedReader(new InputStreamReader(Channels.newInputStream(guest), StandardCharsets.US_ASCII));
    }

    @AfterEach
    void close() throws IOException {
        console.close();
        guest.close();
        server.close();
    }

    @Test
    void messageThatArrivedBeforeTheWaitIsStillReturned() throws IOException {
        guestSays("[    0.000000] Linux version 6.1.0-56-amd64", "HVSPI READY kernel=6.1.0-56-amd64 protocol=1",
                "HVSPI DISK-ADDED vda serial=disk0 size=1048576");
        assertEquals(new GuestDisk("vda", "disk0", 1048576), console.awaitDiskAdded("disk0", LONG));
        assertEquals("6.1.0-56-amd64", console.awaitReady(LONG));
    }

    @Test
    void eachMessageIsReturnedOnceAndThenTheWaitTimesOut() throws IOException {
        guestSays("HVSPI DISK-REMOVED vda", "HVSPI DISK-REMOVED vda");
        console.awaitDiskRemoved("vda", LONG);
        console.awaitDiskRemoved("vda", LONG);
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                () -> console.awaitDiskRemoved("vda", SHORT));
        assertEquals(VmmUnavailableException.Reason.TIMED_OUT, e.reason());
        assertTrue(e.getMessage().contains("no DISK-REMOVED vda within 200 ms; last lines: [HVSPI DISK-REMOVED vda"),
                e.getMessage());
    }

    @Test
    void kernelNoiseInFrontOfAProtocolLineIsIgnored() throws IOException {
        guestSays("[    3.815814] virtio_blk virtio0: HVSPI PING x");
        assertEquals(List.of("x"), console.await(m -> m.verb().equals("PING"), LONG).args());
    }

    @Test
    void requestSendsTheCommandAndReturnsItsReply() throws Exception {
        Thread guestSide = Thread.ofVirtual().start(() -> {
            try {
                assertEquals("read vda", fromHost.readLine());
                guestSays("HVSPI READ vda sha256=ab12 text=hello");
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        });
        assertEquals(new BlockRead("vda", "ab12", "hello"), console.read("vda", LONG));
        guestSide.join();
    }

    @Test
    void fioReplyIsParsed() throws Exception {
        Thread guestSide = Thread.ofVirtual().start(() -> {
            try {
                assertEquals("fio vda,vdb 2 rw=randwrite", fromHost.readLine());
                guestSays("HVSPI FIO vda,vdb iops=300 read_iops=0 write_iops=300 bw_kib=1200 read_lat_us=0.0 "
                        + "write_lat_us=105.5 runtime_ms=2001");
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        });
        assertEquals(new FioResult(List.of("vda", "vdb"), 300, 0, 300, 1200, 0.0, 105.5, 2001),
                console.fio(List.of("vda", "vdb"), Duration.ofSeconds(2), Map.of("rw", "randwrite"), LONG));
        guestSide.join();
    }

    @Test
    void errorReplyBecomesAGuestException() throws IOException {
        guestSays("HVSPI ERROR read no block device 'vdz'");
        GuestException e = assertThrows(GuestException.class, () -> console.read("vdz", LONG));
        assertEquals("guest command 'read vdz' failed: no block device 'vdz'", e.getMessage());
    }

    /** A module the init could not load fails the wait for READY at once, naming it (not a later timeout). */
    @Test
    void aBootErrorBeforeReadyFailsTheWaitAtOnce() throws IOException {
        // an error of a command is no boot error
        guestSays("HVSPI ERROR read no block device 'vdz'", "HVSPI READY kernel=6.12.0-1-amd64 protocol=1");
        assertEquals("6.12.0-1-amd64", console.awaitReady(LONG));
        guestSays("HVSPI ERROR boot insmod virtio_blk failed");
        long t0 = System.nanoTime();
        GuestException e = assertThrows(GuestException.class, () -> console.awaitReady(LONG));
        assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(10).toNanos(), "it waited for the deadline");
        assertTrue(e.getMessage().contains("failed to boot: insmod virtio_blk failed"), e.getMessage());
        // READY after the error (the init goes on): the error still comes first
        guestSays("HVSPI ERROR boot insmod virtio_net failed", "HVSPI READY kernel=6.1.0-56-amd64 protocol=1");
        e = assertThrows(GuestException.class, () -> console.awaitReady(LONG));
        assertTrue(e.getMessage().contains("insmod virtio_net failed"), e.getMessage());
    }

    @Test
    void waitersFailAsExitedWhenTheConsoleCloses() throws IOException {
        guestSays("last words");
        guest.close();
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> console.awaitReady(LONG));
        assertEquals(VmmUnavailableException.Reason.EXITED, e.reason());
        assertTrue(e.getMessage().contains("console closed"), e.getMessage());
        assertTrue(e.getMessage().contains("last words"), e.getMessage());
    }

    @Test
    void guestKernelPanicFailsWaitersAtOnce() throws IOException {
        guestSays("[    2.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100");
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class, () -> console.awaitReady(LONG));
        assertEquals(VmmUnavailableException.Reason.EXITED, e.reason());
        assertTrue(e.getMessage().contains("guest kernel panic while waiting for READY"), e.getMessage());
    }

    @Test
    void transcriptKeepsEveryLine() throws IOException {
        guestSays("noise", "HVSPI PING a");
        console.await(m -> m.verb().equals("PING"), LONG);
        assertEquals(List.of("noise", "HVSPI PING a"), Files.readAllLines(dir.resolve("console.log")));
        assertEquals(List.of("noise", "HVSPI PING a"), console.recentLines());
    }

    @Test
    void commandThatIsNotOneProtocolLineIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> console.send("read vda\npoweroff"));
        assertThrows(IllegalArgumentException.class, () -> console.send("write vda $(reboot)"));
    }

    @Test
    void connectingToAMissingSocketTimesOut() {
        VmmUnavailableException e = assertThrows(VmmUnavailableException.class,
                () -> GuestConsole.connect(dir.resolve("absent.sock"), SHORT));
        assertEquals(VmmUnavailableException.Reason.TIMED_OUT, e.reason());
    }

    private void guestSays(String... lines) throws IOException {
        ByteBuffer bytes = ByteBuffer.wrap((String.join("\r\n", lines) + "\r\n").getBytes(StandardCharsets.US_ASCII));
        while (bytes.hasRemaining()) {
            guest.write(bytes);
        }
    }
}
