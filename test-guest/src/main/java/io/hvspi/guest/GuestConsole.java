package io.hvspi.guest;

import io.hvspi.spi.VmmUnavailableException;
import io.hvspi.spi.VmmUnavailableException.Reason;
import java.io.BufferedWriter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The test guest's serial console, reached through the Unix socket of a QEMU
 * chardev server ({@code -chardev socket,id=...,path=...,server=on,wait=off}):
 * reads the guest's {@code HVSPI} lines and sends it commands (docs/test-guest.md).
 *
 * <p>Every protocol message received is kept until an {@link #await} returns it, so
 * a caller may wait for an event that already happened; each message is returned at
 * most once. QEMU drops console output while no client is connected, so connect
 * before the guest runs (start QEMU with {@code -S}, connect, then {@code cont}).
 * Waits end with the message, or with {@link VmmUnavailableException}: {@code TIMED_OUT}
 * at the deadline, {@code EXITED} when the console closes or the guest kernel panics.
 */
public final class GuestConsole implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(GuestConsole.class);
    private static final int MAX_LINE = 64 * 1024;
    private static final int RECENT_LINES = 200;
    private static final int MAX_PENDING = 10_000;
    private static final Pattern COMMAND = Pattern.compile("[a-z][a-z0-9]*( [A-Za-z0-9_.,=:-]+)*");

    private final String name;
    private final SocketChannel channel;
    private final Optional<BufferedWriter> transcript;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final List<GuestMessage> pending = new ArrayList<>();
    private final Deque<String> recent = new ArrayDeque<>();
    private final Thread reader;
    private String endReason; // set once the console cannot deliver more lines

    private GuestConsole(String name, SocketChannel channel, Optional<BufferedWriter> transcript) {
        this.name = name;
        this.channel = channel;
        this.transcript = transcript;
        this.reader = Thread.ofPlatform().daemon().name("guest-console " + name)
                .unstarted(() -> readLoop(Channels.newInputStream(channel)));
        reader.start();
    }

    /** Connects to the console socket, retrying until it exists or {@code timeout} passes. */
    public static GuestConsole connect(Path socket, Duration timeout) {
        return connect(socket, timeout, Optional.empty());
    }

    /** As {@link #connect(Path, Duration)}, and appends every console line to {@code transcriptFile}. */
    public static GuestConsole connect(Path socket, Duration timeout, Optional<Path> transcriptFile) {
        Optional<BufferedWriter> transcript = transcriptFile.map(file -> {
            try {
                return Files.newBufferedWriter(file, StandardCharsets.UTF_8,
                        StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot open console transcript " + file + ": " + e.getMessage(), e);
            }
        });
        long deadline = System.nanoTime() + timeout.toNanos();
        IOException last;
        do {
            SocketChannel channel = null;
            try {
                channel = SocketChannel.open(StandardProtocolFamily.UNIX);
                channel.connect(UnixDomainSocketAddress.of(socket));
                return new GuestConsole(socket.toString(), channel, transcript);
            } catch (IOException e) {
                last = e;
                closeQuietly(channel);
            }
            // QEMU creates the socket while it starts: poll until it is there.
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
        } while (System.nanoTime() < deadline);
        transcript.ifPresent(GuestConsole::closeQuietly);
        throw new VmmUnavailableException(Reason.TIMED_OUT, "guest console " + socket + ": cannot connect within "
                + seconds(timeout) + ": " + last.getMessage(), last);
    }

    /**
     * Waits for the first message not yet returned that {@code matcher} accepts, and
     * returns it; {@code what} names it in the error.
     */
    public GuestMessage await(String what, Predicate<GuestMessage> matcher, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        lock.lock();
        try {
            while (true) {
                for (Iterator<GuestMessage> it = pending.iterator(); it.hasNext(); ) {
                    GuestMessage message = it.next();
                    if (matcher.test(message)) {
                        it.remove();
                        return message;
                    }
                }
                if (endReason != null) {
                    throw new VmmUnavailableException(Reason.EXITED, "guest console " + name + ": " + endReason
                            + " while waiting for " + what + "; last lines: " + recentText(5));
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new VmmUnavailableException(Reason.TIMED_OUT, "guest console " + name + ": no " + what
                            + " within " + seconds(timeout) + "; last lines: " + recentText(5));
                }
                changed.awaitNanos(left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmmUnavailableException(Reason.TIMED_OUT, "guest console " + name + ": interrupted while waiting for " + what, e);
        } finally {
            lock.unlock();
        }
    }

    /** As {@link #await(String, Predicate, Duration)}, described as "a matching message". */
    public GuestMessage await(Predicate<GuestMessage> matcher, Duration timeout) {
        return await("matching message", matcher, timeout);
    }

    /** Sends one command line, e.g. {@code read vda}; the reply is awaited separately. */
    public void send(String command) {
        if (!COMMAND.matcher(command).matches() || command.length() > 1024) {
            throw new IllegalArgumentException("not a test guest command: '" + command + "'");
        }
        ByteBuffer bytes = ByteBuffer.wrap((command + "\n").getBytes(StandardCharsets.US_ASCII));
        try {
            synchronized (channel) {
                while (bytes.hasRemaining()) {
                    channel.write(bytes);
                }
            }
        } catch (IOException e) {
            throw new VmmUnavailableException(Reason.EXITED, "guest console " + name + ": cannot send '" + command
                    + "': " + e.getMessage(), e);
        }
    }

    /**
     * Sends {@code command} and returns its reply: the first unreturned message whose
     * verb is the command's name in upper case. An {@code HVSPI ERROR <command>} reply
     * throws {@link GuestException}.
     */
    public GuestMessage request(String command, Duration timeout) {
        String verb = command.split(" ", 2)[0];
        String replyVerb = verb.toUpperCase(Locale.ROOT);
        send(command);
        GuestMessage reply = await("reply to '" + command + "'",
                m -> m.verb().equals(replyVerb) || m.isErrorFor(verb), timeout);
        if (reply.verb().equals("ERROR")) {
            throw new GuestException("guest command '" + command + "' failed: "
                    + reply.text().substring(verb.length()).strip());
        }
        return reply;
    }

    /**
     * Waits for {@code HVSPI READY} and returns the guest's kernel version. An {@code HVSPI ERROR boot ...}
     * line before it (the init could not load a module, e.g. {@code insmod virtio_blk failed}) throws
     * {@link GuestException} at once, naming it: the guest would come up READY without the device, and
     * the test would otherwise fail later, as a timeout waiting for a disk or NIC that cannot appear.
     */
    public String awaitReady(Duration timeout) {
        GuestMessage m = await("READY", msg -> msg.verb().equals("READY") || msg.isErrorFor("boot"), timeout);
        if (m.verb().equals("ERROR")) {
            throw new GuestException("guest " + name + " failed to boot: " + m.text().substring("boot".length()).strip()
                    + " (the test guest's init; docs/test-guest.md)");
        }
        return m.required("kernel");
    }

    /** Waits until the guest reports a disk with virtio-blk serial {@code serial}. */
    public GuestDisk awaitDiskAdded(String serial, Duration timeout) {
        GuestMessage m = await("DISK-ADDED with serial=" + serial,
                msg -> msg.verb().equals("DISK-ADDED") && msg.field("serial").filter(serial::equals).isPresent(),
                timeout);
        return new GuestDisk(m.arg(0).orElseThrow(), serial, m.requiredLong("size"));
    }

    /** Waits until the guest reports that {@code device} (e.g. {@code vda}) is gone. */
    public void awaitDiskRemoved(String device, Duration timeout) {
        await("DISK-REMOVED " + device,
                m -> m.verb().equals("DISK-REMOVED") && m.arg(0).filter(device::equals).isPresent(), timeout);
    }

    /** The disks the guest has now: device name to serial. */
    public Map<String, String> disks(Duration timeout) {
        return request("disks", timeout).fields();
    }

    /** Waits until the guest reports a network interface with MAC {@code mac}; returns its name ({@code eth1}). */
    public String awaitNicAdded(String mac, Duration timeout) {
        GuestMessage m = await("NIC-ADDED with mac=" + mac,
                msg -> msg.verb().equals("NIC-ADDED") && msg.field("mac").filter(mac::equalsIgnoreCase).isPresent(),
                timeout);
        return m.arg(0).orElseThrow();
    }

    /** Waits until the guest reports that network interface {@code name} is gone. */
    public void awaitNicRemoved(String name, Duration timeout) {
        await("NIC-REMOVED " + name,
                m -> m.verb().equals("NIC-REMOVED") && m.arg(0).filter(name::equals).isPresent(), timeout);
    }

    /** The guest's network interfaces now: name ({@code eth0}) to MAC. */
    public Map<String, String> nics(Duration timeout) {
        return request("nics", timeout).fields();
    }

    /** Sets {@code nic} up with only its IPv6 link-local address, and returns that address. */
    public String linkUp(String nic, Duration timeout) {
        return request("linkup " + nic, timeout).required("addr");
    }

    /** One ICMPv6 echo from the guest over {@code nic} to the link-local {@code address}; fails unless answered. */
    public void ping6(String nic, String address, Duration timeout) {
        request("ping6 " + nic + " " + address, timeout);
    }

    /** Writes {@code token} and a newline at offset 0 of {@code device}, zero-padded to 4096 bytes, with O_DIRECT. */
    public void write(String device, String token, Duration timeout) {
        request("write " + device + " " + token, timeout);
    }

    /** Reads the first 4096 bytes of {@code device} with O_DIRECT. */
    public BlockRead read(String device, Duration timeout) {
        GuestMessage m = request("read " + device, timeout);
        return new BlockRead(device, m.required("sha256"), m.required("text"));
    }

    /** The number of blk-mq hardware queues the guest made for {@code device} ({@code /sys/block/DEV/mq/}). */
    public int queues(String device, Duration timeout) {
        return Math.toIntExact(request("queues " + device, timeout).requiredLong("count"));
    }

    /**
     * Runs fio on {@code devices} for {@code runtime} (whole seconds), one job per disk,
     * by default 4k random reads at iodepth 32 with libaio and O_DIRECT; {@code options}
     * override {@code rw}, {@code bs}, {@code iodepth}, {@code ioengine}, {@code numjobs},
     * {@code rwmixread}, {@code direct}. {@code timeout} must cover the runtime plus fio's start.
     */
    public FioResult fio(List<String> devices, Duration runtime, Map<String, String> options, Duration timeout) {
        String command = "fio " + String.join(",", devices) + " " + Math.max(1, runtime.toSeconds())
                + options.entrySet().stream().map(e -> " " + e.getKey() + "=" + e.getValue()).collect(Collectors.joining());
        GuestMessage m = request(command, timeout);
        return new FioResult(devices, m.requiredLong("iops"), m.requiredLong("read_iops"), m.requiredLong("write_iops"),
                m.requiredLong("bw_kib"), m.requiredDouble("read_lat_us"), m.requiredDouble("write_lat_us"),
                m.requiredLong("runtime_ms"));
    }

    /** The last console lines received (at most 200), protocol and kernel noise alike. */
    public List<String> recentLines() {
        lock.lock();
        try {
            return List.copyOf(recent);
        } finally {
            lock.unlock();
        }
    }

    /** Disconnects; the guest keeps running. */
    @Override
    public void close() {
        closeQuietly(channel);
        try {
            reader.join(TimeUnit.SECONDS.toMillis(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        transcript.ifPresent(GuestConsole::closeQuietly);
    }

    private void readLoop(InputStream in) {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        String reason = "console closed (the VM exited?)";
        try {
            byte[] buffer = new byte[8192];
            int n;
            while ((n = in.read(buffer)) > 0) {
                for (int i = 0; i < n; i++) {
                    byte b = buffer[i];
                    if (b == '\n' || line.size() >= MAX_LINE) {
                        accept(line.toString(StandardCharsets.UTF_8).replace("\r", ""));
                        line.reset();
                        if (b == '\n') {
                            continue;
                        }
                    }
                    line.write(b);
                }
            }
            if (line.size() > 0) {
                accept(line.toString(StandardCharsets.UTF_8).replace("\r", ""));
            }
        } catch (IOException | UncheckedIOException e) {
            reason = "console read failed: " + e.getMessage();
        }
        end(reason);
    }

    private void accept(String line) {
        transcript.ifPresent(out -> {
            try {
                out.write(line);
                out.newLine();
                out.flush();
            } catch (IOException e) {
                LOG.warn("guest console {}: cannot write transcript: {}", name, e.getMessage());
            }
        });
        Optional<GuestMessage> message = GuestMessage.parse(line);
        lock.lock();
        try {
            recent.addLast(line);
            if (recent.size() > RECENT_LINES) {
                recent.removeFirst();
            }
            message.ifPresent(m -> {
                pending.add(m);
                if (pending.size() > MAX_PENDING) {
                    pending.removeFirst();
                }
            });
            if (line.contains("Kernel panic - not syncing") && endReason == null) {
                // Nothing more will come; fail waiters now instead of at their deadline.
                endReason = "guest kernel panic";
            }
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private void end(String reason) {
        lock.lock();
        try {
            if (endReason == null) {
                endReason = reason;
            }
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private String recentText(int lines) {
        List<String> all = new ArrayList<>(recent);
        return all.subList(Math.max(0, all.size() - lines), all.size()).stream()
                .map(String::strip).filter(s -> !s.isEmpty())
                .collect(Collectors.joining(" | ", "[", "]"));
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (Exception e) {
            // closing after a failure: the first error is the one that matters
        }
    }
}
