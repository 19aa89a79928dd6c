package io.hvspi.plugin.qemu.hotplug;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Whether this host can give QEMU vhost-net (the kernel's virtio-net data path): only when
 * {@code /dev/vhost-net} exists and opens for reading and writing. A {@code vhost=on} that
 * QEMU cannot honour fails the whole {@code netdev_add}, so hvspi asks only where it works.
 */
public final class VhostNet {
    static final Path DEVICE = Path.of("/dev/vhost-net");

    private VhostNet() {}

    public static boolean usable() {
        return usable(DEVICE);
    }

    static boolean usable(Path device) {
        try (FileChannel ignored = FileChannel.open(device, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            return true;
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return false;
        }
    }
}
