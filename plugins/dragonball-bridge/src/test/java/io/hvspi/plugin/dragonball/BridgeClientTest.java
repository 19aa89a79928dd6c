package io.hvspi.plugin.dragonball;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.plugin.dragonball.bridge.BridgeClient;
import io.hvspi.spi.VmmException;
import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import io.hvspi.sim.dragonball.DragonballBridgeSimulator;
import io.hvspi.sim.dragonball.DragonballBridgeSimulator.Options;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The protocol client: handshake, answers, and every way a peer can fail it. */
class BridgeClientTest {
    /** For waits that are meant to time out. */
    private static final Duration SHORT = Duration.ofMillis(300);
    /** For answers that must come: generous, as the machine may be loaded. */
    private static final Duration PATIENT = Duration.ofSeconds(10);
    /** A generous bound: the point is "returns", not how fast. */
    private static final Duration NO_HANG = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private DragonballBridgeSimulator sim;

    @AfterEach
    void tearDown() {
        if (sim != null) {
            sim.close();
        }
    }

    private Path simulator(Options options) {
        sim = DragonballBridgeSimulator.start(dir, options);
        return sim.socketPath();
    }

    private static VmmUnavailableException unavailable(Path socket) {
        return assertTimeoutPreemptively(NO_HANG,
                () -> assertThrows(VmmUnavailableException.class, () -> BridgeClient.connect(socket, SHORT)));
    }

    @Test
    void handshakeAgreesOnVersionOneAndReadsTheGreeting() {
        try (BridgeClient c = BridgeClient.connect(simulator(Options.defaults().withVersions(1, 2)), PATIENT)) {
            assertEquals(ProcessHandle.current().pid(), c.greeting().pid());
            assertEquals(java.util.List.of(1, 2), c.greeting().versions());
            assertEquals("Uninitialized", c.call("GetInstanceInfo", null, PATIENT).path("state").asText());
        }
    }

    @Test
    void aBridgeWithoutVersionOneIsAProtocolError() {
        VmmUnavailableException e = unavailable(simulator(Options.defaults().withVersions(2)));
        assertEquals(Reason.PROTOCOL_ERROR, e.reason());
        assertTrue(e.getMessage().contains("speaks protocol versions [2], hvspi speaks 1"), e.getMessage());
    }

    @Test
    void aBridgeRefusingTheVersionItOfferedIsAProtocolError() {
        // The greeting claims version 1; the bridge then only accepts 2.
        VmmUnavailableException e = unavailable(simulator(Options.defaults().withVersions(2)
                .withGreeting("{\"bridge\":\"hvspi-dragonball\",\"versions\":[1],\"pid\":1}")));
        assertEquals(Reason.PROTOCOL_ERROR, e.reason());
        assertTrue(e.getMessage().contains("Bridge.VersionMismatch"), e.getMessage());
    }

    @Test
    void aPeerThatIsNotTheBridgeIsAProtocolError() {
        VmmUnavailableException wrongName = unavailable(simulator(Options.defaults()
                .withGreeting("{\"QMP\":{\"version\":{}}}")));
        assertEquals(Reason.PROTOCOL_ERROR, wrongName.reason());
        sim.close();
        VmmUnavailableException garbage = unavailable(simulator(Options.defaults().withGreeting("HTTP/1.1 400 Bad")));
        assertEquals(Reason.PROTOCOL_ERROR, garbage.reason());
    }

    @Test
    void aSilentPeerTimesOutDuringTheHandshake() {
        VmmUnavailableException e = unavailable(simulator(Options.defaults().withSilence()));
        assertEquals(Reason.TIMED_OUT, e.reason());
    }

    @Test
    void nothingListeningMeansTheVmmExited() {
        VmmUnavailableException e = unavailable(dir.resolve("nobody.sock"));
        assertEquals(Reason.EXITED, e.reason());
    }

    @Test
    void aStalledActionTimesOutAndTheConnectionStaysUsable() {
        try (BridgeClient c = BridgeClient.connect(simulator(Options.defaults()
                .withStalledActions("GetVmConfiguration")), PATIENT)) {
            VmmUnavailableException e = assertTimeoutPreemptively(NO_HANG, () -> assertThrows(
                    VmmUnavailableException.class, () -> c.call("GetVmConfiguration", null, SHORT)));
            assertEquals(Reason.TIMED_OUT, e.reason());
            assertTrue(c.isOpen());
            assertEquals("Uninitialized", c.call("GetInstanceInfo", null, PATIENT).path("state").asText());
        }
    }

    @Test
    void aVmmDyingMidCallFailsTheCallAndReportsTheLoss() throws InterruptedException {
        try (BridgeClient c = BridgeClient.connect(simulator(Options.defaults().withCrashingActions("StartMicroVm")),
                PATIENT)) {
            CountDownLatch lost = new CountDownLatch(1);
            AtomicReference<VmmUnavailableException> reported = new AtomicReference<>();
            c.onLoss(e -> {
                reported.set(e);
                lost.countDown();
            });
            VmmUnavailableException e = assertTimeoutPreemptively(NO_HANG, () -> assertThrows(
                    VmmUnavailableException.class, () -> c.call("StartMicroVm", null, Duration.ofSeconds(5))));
            assertEquals(Reason.EXITED, e.reason());
            assertTrue(lost.await(5, TimeUnit.SECONDS));
            assertEquals(Reason.EXITED, reported.get().reason());
            assertFalse(c.isOpen());
            assertEquals(Reason.EXITED, assertThrows(VmmUnavailableException.class,
                    () -> c.call("GetInstanceInfo", null, SHORT)).reason(), "later calls fail at once");
        }
    }

    @Test
    void anErrorAnswerKeepsTheKindTheTextAndTheAction() {
        try (BridgeClient c = BridgeClient.connect(simulator(Options.defaults()), PATIENT)) {
            VmmException e = assertThrows(VmmException.class, () -> c.call("StartMicroVm", null, PATIENT));
            assertEquals("StartMicroVm", e.command());
            assertEquals("StartMicroVm.MissingKernelConfig", e.errorClass());
            assertEquals("failed to boot the VM: cannot start the virtual machine without kernel configuration",
                    e.vmmMessage());
            assertEquals("StartMicroVm failed: StartMicroVm.MissingKernelConfig: failed to boot the VM: cannot start "
                    + "the virtual machine without kernel configuration", e.getMessage());
        }
    }

    @Test
    void garbageAfterTheHandshakeIsAProtocolError() throws Exception {
        assertPeerLineFails("this is not json", Reason.PROTOCOL_ERROR);
    }

    @Test
    void anAnswerWithoutIdIsAProtocolError() throws Exception {
        assertPeerLineFails("{\"id\":null,\"error\":{\"kind\":\"Bridge.MalformedRequest\",\"message\":\"?\"}}",
                Reason.PROTOCOL_ERROR);
    }

    @Test
    void aLineOverTheCapIsAProtocolError() throws Exception {
        assertPeerLineFails("\"" + "x".repeat(BridgeClient.MAX_LINE_BYTES) + "\"", Reason.PROTOCOL_ERROR);
    }

    /** A hand-made peer that greets and agrees, then answers the first request with {@code line}. */
    private void assertPeerLineFails(String line, Reason expected) throws Exception {
        Path socket = dir.resolve("fake.sock");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket));
            Thread peer = new Thread(() -> {
                try (SocketChannel ch = server.accept()) {
                    BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch),
                            StandardCharsets.UTF_8));
                    OutputStream out = Channels.newOutputStream(ch);
                    out.write("{\"bridge\":\"hvspi-dragonball\",\"versions\":[1],\"pid\":1}\n".getBytes());
                    in.readLine();
                    out.write("{\"version\":1}\n".getBytes());
                    in.readLine();
                    out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    in.readLine(); // hold the connection until the client drops it
                } catch (IOException e) {
                    // the client closed first
                }
            }, "fake-bridge");
            peer.start();
            try (BridgeClient c = BridgeClient.connect(socket, PATIENT)) {
                VmmUnavailableException e = assertTimeoutPreemptively(NO_HANG, () -> assertThrows(
                        VmmUnavailableException.class, () -> c.call("GetInstanceInfo", null, Duration.ofSeconds(5))));
                assertEquals(expected, e.reason());
                assertFalse(c.isOpen());
            }
            peer.join(TimeUnit.SECONDS.toMillis(5));
        }
    }
}
