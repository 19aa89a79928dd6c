package io.hvspi.plugin.qemu.events;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hvspi.plugin.qemu.state.AppendFile;
import io.hvspi.spi.VmEvent;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Instant;
import java.util.List;
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
public final class EventJournal implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EventJournal.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** How often a tail looks again when inotify said nothing (a lost wake-up costs at most this). */
    private static final long RECHECK_MS = 500;
    private static final Timestamps TIMESTAMPS = new Timestamps();

    private final AppendFile file;

    public EventJournal(Path file) {
        this.file = new AppendFile(file);
    }

    /**
     * Appends one event. Never throws: the change it reports has happened, and a
     * journal that cannot be written (the runtime directory is going) only costs
     * followers an event; the file is never created here, so a removed directory stays removed.
     * The file stays open between events (see {@link AppendFile}) until {@link #close()}.
     */
    public void append(String name, Map<String, ?> data) {
        try {
            file.append(line(name, Instant.now(), data));
        } catch (IOException e) {
            LOG.debug("not journalling {} to {}: {}", name, file.path(), e.toString());
        }
    }

    /**
     * One line: event, timestamp, data in the map's order. Written with the generator, not
     * through a map and the mapper's serialisers, which cost as much again as the write.
     */
    static byte[] line(String name, Instant at, Map<String, ?> data) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(160);
        try (JsonGenerator g = JSON.createGenerator(bytes)) {
            g.writeStartObject();
            g.writeStringField("event", name);
            g.writeStringField("timestamp", TIMESTAMPS.format(at));
            g.writeObjectFieldStart("data");
            for (Map.Entry<String, ?> e : data.entrySet()) {
                g.writeFieldName(e.getKey());
                writeValue(g, e.getValue());
            }
            g.writeEndObject();
            g.writeEndObject();
        }
        bytes.write('\n');
        return bytes.toByteArray();
    }

    /** The kinds events carry written directly; anything else through the mapper. */
    private static void writeValue(JsonGenerator g, Object value) throws IOException {
        switch (value) {
            case String text -> g.writeString(text);
            case Integer n -> g.writeNumber(n);
            case Long n -> g.writeNumber(n);
            case List<?> list -> {
                g.writeStartArray();
                for (Object element : list) {
                    writeValue(g, element);
                }
                g.writeEndArray();
            }
            case null -> g.writeNull();
            default -> g.writeObject(value);
        }
    }

    /**
     * {@link Instant#toString()}'s text, with the part up to the second made once per second:
     * the JDK's formatter was a quarter of an append's cost in code the JIT has not compiled yet,
     * which is where a VM's few hotplugs run.
     */
    static final class Timestamps {
        private long second = Long.MIN_VALUE;
        private String upToSecond;

        synchronized String format(Instant at) {
            if (at.getEpochSecond() != second) {
                String whole = Instant.ofEpochSecond(at.getEpochSecond()).toString();
                upToSecond = whole.substring(0, whole.length() - 1); // without its Z
                second = at.getEpochSecond();
            }
            int nanos = at.getNano();
            if (nanos == 0) {
                return upToSecond + "Z";
            }
            // as ISO_INSTANT prints it: milli-, micro- or nanoseconds, whichever is exact
            int digits = nanos % 1_000_000 == 0 ? 3 : nanos % 1_000 == 0 ? 6 : 9;
            int fraction = digits == 3 ? nanos / 1_000_000 : digits == 6 ? nanos / 1_000 : nanos;
            String text = Integer.toString(fraction);
            return upToSecond + "." + "0".repeat(digits - text.length()) + text + "Z";
        }
    }

    /** Lets go of the file; a later event opens it for its line alone. */
    @Override
    public void close() {
        file.close();
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
        AppendFile.requireRegularFile(file); // a FIFO would block the open; a link is not hvspi's journal
        FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
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
        /** An event line is a few hundred bytes; a "line" longer than this is not one, and is not kept whole. */
        private static final int MAX_LINE_CHARS = 1 << 20;
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
                if (partial.length() > MAX_LINE_CHARS) {
                    // an event is a few hundred bytes: this is not a line hvspi wrote, and it is not kept whole
                    LOG.warn("skipping {} characters of the event journal without a line end", partial.length());
                    partial.setLength(0); // the rest of it, up to its line end, fails to parse and is skipped
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
