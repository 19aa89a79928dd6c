package io.hvspi.kit.lifecycle;

import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * What a VMM's Unix socket says about the VMM, for a plugin that reaches a VMM it did
 * not spawn ("endpoint" mode) and so has no process to watch or signal.
 */
public final class VmmSockets {
    private VmmSockets() {}

    /**
     * True when nothing listens on {@code socket} any more: the file is gone, or a
     * connection is refused. That is proof the VMM that served it ended (or closed
     * its socket). A socket that accepts, or whose connect does not complete at once
     * (a full backlog: a stopped or busy VMM), is not. Never blocks; never throws.
     */
    public static boolean refusesConnections(Path socket) {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.configureBlocking(false);
            ch.connect(UnixDomainSocketAddress.of(socket));
            return false; // connected, or pending: something listens
        } catch (ConnectException | NoSuchFileException e) {
            return true;
        } catch (IOException | RuntimeException e) {
            // ENOENT arrives as a SocketException on some JDKs: the file test settles it
            return !java.nio.file.Files.exists(socket);
        }
    }
}
