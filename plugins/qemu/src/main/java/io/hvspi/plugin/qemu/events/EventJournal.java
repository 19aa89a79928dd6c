package io.hvspi.plugin.qemu.events;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hvspi.spi.VmEvent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Instant;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * hvspi's own events of a VM ({@code DEVICE_ATTACHED}, {@code DEVICE_DETACHED},
 * {@code DEVICE_MOVED}, {@code IOTHREAD_ADDED}, {@code IOTHREAD_REMOVED}), which QEMU
 * has no event for: one JSON object per line in {@code events.jsonl} in the VM's
 * runtime directory (0600), appended by the process that holds the VM, and tailed by
 * followers in other processes beside QEMU's own events. The file goes with the
 * runtime directory; a VM's hotplugs are few, so it stays small.
 */
public final class EventJournal {
    private static final Logger LOG = LoggerFactory.getLogger(EventJournal.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** How often a tail looks again when inotify said nothing (a lost wake-up costs at most this). */
    private static final long RECHECK_MS = 500;

    private final Path file;

    public EventJournal(Path file) {
        this.file = Objects.requireNonNull(file, "file");
    }

    /**
     * Appends one event. Never throws: the change it reports has happened, and a
     * journal that cannot be written (the runtime directory is going) only costs
     * followers an event; the file is never created here, so a removed directory stays removed.
     */
    public void append(String name, Map<String, Object> data) {
        // written in one pass (the same bytes as a tree of it: event, timestamp, data in the map's order);
        // building the tree first (valueToTree) cost as much again, once per hotplug
        Map<String, Object> line = new LinkedHashMap<>(4);
        line.put("event", name);
        line.put("timestamp", Instant.now().toString());
        line.put("data", data);
        try {
            byte[] json = JSON.writeValueAsBytes(line);
            byte[] bytes = Arrays.copyOf(json, json.length + 1);
            bytes[json.length] = '\n';
            Files.write(file, bytes, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            LOG.debug("not journalling {} to {}: {}", name, file, e.toString());
        }
    }

    /**
     * Delivers the events appended from now on to {@code listener}, on a virtual
     * thread, until closed or the file's directory goes. A journal that does not
     * exist (a VM started before there was one) delivers nothing.
     */
    public static AutoCloseable tail(Path file, Consumer<VmEvent> listener) throws IOException {
        if (!Files.exists(file)) {
            return () -> { };
        }
        FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
        channel.position(channel.size());
        WatchService watch = file.getFileSystem().newWatchService();
        WatchKey key = file.getParent().register(watch, StandardWatchEventKinds.ENTRY_MODIFY,
                StandardWatchEventKinds.ENTRY_DELETE);
        Tail tail = new Tail(channel, watch, key, listener);
        Thread.ofVirtual().name("hvspi-journal-tail").start(tail::run);
        return tail::close;
    }

    private static final class Tail {
        private final FileChannel channel;
        private final WatchService watch;
        private final WatchKey key;
        private final Consumer<VmEvent> listener;
        private final StringBuilder partial = new StringBuilder();
        private volatile boolean closed;

        Tail(FileChannel channel, WatchService watch, WatchKey key, Consumer<VmEvent> listener) {
            this.channel = channel;
            this.watch = watch;
            this.key = key;
            this.listener = listener;
        }

        void run() {
            try {
                while (!closed && key.isValid()) {
                    WatchKey ready = watch.poll(RECHECK_MS, TimeUnit.MILLISECONDS);
                    if (ready != null) {
                        ready.pollEvents();
                        ready.reset();
                    }
                    readNew();
                }
            } catch (InterruptedException | ClosedWatchServiceException e) {
                // closed
            } catch (IOException e) {
                LOG.debug("journal tail ended: {}", e.toString());
            } finally {
                close();
            }
        }

        private void readNew() throws IOException {
            ByteBuffer buffer = ByteBuffer.allocate(16 * 1024);
            while (!closed && channel.read(buffer) > 0) {
                buffer.flip();
                partial.append(StandardCharsets.UTF_8.decode(buffer));
                buffer.clear();
                for (int nl; (nl = partial.indexOf("\n")) >= 0; ) {
                    String line = partial.substring(0, nl);
                    partial.delete(0, nl + 1);
                    deliver(line);
                }
            }
        }

        private void deliver(String line) {
            try {
                JsonNode node = JSON.readTree(line);
                Map<String, Object> data = JSON.convertValue(node.path("data"),
                        new TypeReference<Map<String, Object>>() {});
                data.values().removeIf(Objects::isNull);
                listener.accept(new VmEvent(node.path("event").asText(), Instant.parse(node.path("timestamp").asText()),
                        data));
            } catch (JsonProcessingException | RuntimeException e) {
                LOG.debug("skipping a journal line that is not an event: {}", e.toString());
            }
        }

        void close() {
            closed = true;
            try {
                watch.close();
                channel.close();
            } catch (IOException e) {
                LOG.debug("closing the journal tail: {}", e.toString());
            }
        }
    }
}
