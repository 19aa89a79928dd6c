package io.hvspi.kit.lifecycle;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VmmSocketsTest {
    @TempDir
    Path tmp;

    @Test
    void aListeningSocketIsNoProofOnlyAMissingOrDeadOneIs() throws Exception {
        Path socket = tmp.resolve("vmm.sock");
        assertTrue(VmmSockets.refusesConnections(socket), "no file");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket));
            assertFalse(VmmSockets.refusesConnections(socket), "listening, though it accepts nothing");
        }
        assertTrue(Files.exists(socket));
        assertTrue(VmmSockets.refusesConnections(socket), "the file is left, nothing listens: refused");
        Path plain = Files.writeString(tmp.resolve("plain"), "not a socket");
        assertTrue(VmmSockets.refusesConnections(plain));
    }
}
