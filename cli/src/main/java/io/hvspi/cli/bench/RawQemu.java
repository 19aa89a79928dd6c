package io.hvspi.cli.bench;

import io.hvspi.spi.VmSpec;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The raw side's QEMU, shared by the benchmarks that price hvspi against {@link RawQmp}:
 * the same settings as the plugin's command line for a guestless VM (binary, machine,
 * accelerator, vCPUs, memory, the independent IOThread pool, the root ports), minus the
 * serial console and the event monitor, and the QMP arguments of a null-co virtio-blk-pci attach.
 */
final class RawQemu {
    private RawQemu() {}

    /** Spawns QEMU with its QMP socket at {@code dir/qmp.sock} and its output in {@code dir/qemu.log}. */
    static Process spawn(VmSpec spec, Path dir, String name) {
        List<String> argv = argv(spec, dir, name);
        try {
            return new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(dir.resolve("qemu.log").toFile()).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + argv.get(0) + ": " + e.getMessage(), e);
        }
    }

    /**
     * The command line: the plugin's for a guestless VM named {@code name} in {@code dir}, without
     * its serial console and event monitor (RawQemuTest holds them equal).
     */
    static List<String> argv(VmSpec spec, Path dir, String name) {
        // the vCPUs as the plugin (and Kata) give them, maxcpus included: QEMU sets up a hotplug slot for each
        String smp = spec.maxVcpus() > spec.vcpus() ? spec.vcpus() + ",maxcpus=" + spec.maxVcpus()
                : Integer.toString(spec.vcpus());
        List<String> argv = new ArrayList<>(List.of(spec.binary().toString(), "-name", name + ",debug-threads=on",
                "-machine", spec.machineType() + ",accel=" + spec.accel(), "-smp", smp,
                "-m", spec.memoryMib() + "M", "-nodefaults", "-no-user-config", "-display", "none", "-S",
                "-chardev", "socket,id=qmp,path=" + dir.resolve("qmp.sock").toString().replace(",", ",,")
                        + ",server=on,wait=off",
                "-mon", "chardev=qmp,mode=control"));
        for (String id : poolIds(spec)) {
            argv.addAll(List.of("-object", "iothread,id=" + id));
        }
        for (int i = 0; i < spec.hotplugSlots(); i++) {
            argv.addAll(List.of("-device", "pcie-root-port,id=rp" + i + ",bus=pcie.0,chassis=" + (i + 1)
                    + ",addr=" + Integer.toHexString(8 + i / 8) + "." + i % 8
                    + (i % 8 == 0 && i + 1 < spec.hotplugSlots() ? ",multifunction=on" : "")));
        }
        return argv;
    }

    /**
     * The names the QEMU plugin gives a block node (DeviceTable.NODE_PREFIX) and a NIC's netdev
     * (NetArgs), so that both sides send commands of the same length: QEMU reads its monitor one byte
     * per main-loop turn, about 4 us a byte under TCG, and shorter names made the raw side faster.
     * The plugin is not on hvctl's class path (pf4j loads it), so RawQemuTest holds these equal.
     */
    static String nodeName(int n) {
        return "hvspi-node" + n;
    }

    static String netdevId(String deviceId) {
        return "hvspi-net-" + deviceId;
    }

    /** The independent IOThreads' ids, as the plugin names them. */
    static List<String> poolIds(VmSpec spec) {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < spec.ioThreads().poolSize(); i++) {
            ids.add("indep_iothread_" + i);
        }
        return ids;
    }

    /**
     * {@code blockdev-add} of a null-co node as the QEMU plugin sends it for
     * {@code BlockBackend.Null} (DeviceArgs.blockdevAdd): read-zeroes, writable with
     * discard=unmap, the config's cache settings when {@code block_device_cache_set}, QEMU's
     * defaults (false) left out. RawQemuTest holds it equal to the plugin's.
     */
    static String blockdevAdd(VmSpec.BlockOptions block, String node, long sizeBytes) {
        boolean direct = block.cacheSet() && block.cacheDirect();
        boolean noFlush = block.cacheSet() && block.cacheNoflush();
        String cache = !direct && !noFlush ? "" : ",\"cache\":{" + (direct ? "\"direct\":true" : "")
                + (direct && noFlush ? "," : "") + (noFlush ? "\"no-flush\":true" : "") + "}";
        return "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"null-co\",\"node-name\":\"" + node
                + "\",\"size\":" + sizeBytes + ",\"read-zeroes\":true,\"discard\":\"unmap\"" + cache + "}}";
    }

    /**
     * {@code device_add} of a virtio-blk-pci on a root port with one IOThread, as the
     * QEMU plugin sends it (DeviceArgs.virtioBlkPci): the id as serial, share-rw as Kata sets it;
     * RawQemuTest holds it equal to the plugin's.
     */
    static String virtioBlkPci(String id, String node, String rootPort, String ioThread, int queues) {
        return "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-blk-pci\",\"id\":\"" + id
                + "\",\"drive\":\"" + node + "\",\"bus\":\"" + rootPort + "\",\"num-queues\":" + queues
                + ",\"serial\":\"" + (id.length() <= 20 ? id : id.substring(0, 20)) + "\",\"share-rw\":true"
                + (ioThread == null ? "" : ",\"iothread\":\"" + ioThread + "\"") + "}}";
    }

    private static final Path VHOST_NET = Path.of("/dev/vhost-net");

    /**
     * Whether the QEMU plugin asks for vhost-net on this host (VhostNet.usable: /dev/vhost-net opens
     * for reading and writing); RawQemuTest holds the two equal. The raw side asks as hvspi does, or it
     * would price a different data path's set-up.
     */
    static boolean vhostNetUsable() {
        try (FileChannel ignored = FileChannel.open(VHOST_NET, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            return true;
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return false;
        }
    }

    /**
     * {@code netdev_add} of a single-queue tap QEMU opens by name, as the QEMU plugin sends it
     * (NetArgs.netdevAdd): no helper scripts, and {@code vhost} only when {@code vhost}.
     */
    static String netdevAdd(String netdev, String tap, boolean vhost) {
        return "{\"execute\":\"netdev_add\",\"arguments\":{\"type\":\"tap\",\"id\":\"" + netdev + "\",\"ifname\":\""
                + tap + "\",\"script\":\"no\",\"downscript\":\"no\"" + (vhost ? ",\"vhost\":true" : "") + "}}";
    }
}
