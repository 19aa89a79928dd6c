package io.hvspi.plugin.qemu.state;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hvspi.spi.HvspiException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * The VM's write-ahead log of intents ({@code intents.log} in its runtime directory,
 * 0600): an operation appends its intent here, one line in one write, before its first
 * QMP command, instead of rewriting the whole record. An attach (block or network) that
 * QEMU confirmed appends a second line, its intent again as {@code done}, instead of a
 * record save: attaches are the hot path, and the record is rewritten by the next other
 * change, by compaction, when the handle closes, or by the next reattach. Every other
 * operation ends with a record save that holds everything logged so far and the last
 * sequence number it covers ({@link QemuState#intentLog()}). Lines at or below that number are history;
 * above it, a {@code done} line is an attach to replay and an intent without one is an
 * operation of a process that died mid-operation, which reattach settles against QEMU.
 * The file is emptied after a record save once it has grown past {@link #COMPACT_BYTES}.
 *
 * <p>The file stays open between appends ({@link AppendFile}), and an intent is encoded
 * once for both its lines ({@link #append} returns the encoding that {@link #appendDone}
 * takes): an attach's two lines were, with the event journal's, most of its cost after
 * its QMP commands.
 *
 * <p>Not thread-safe: the caller holds the VM's model lock, as for the record's saves.
 */
public final class IntentLog implements AutoCloseable {
    /** The log is compacted to a few KiB; one far larger was not written by hvspi and is not read whole. */
    static final int MAX_BYTES = 16 << 20;

    /** Emptied after a record save once it holds this much: a reattach reads at most about this. */
    public static final int COMPACT_BYTES = 16 * 1024;

    private static final ObjectMapper JSON = QemuState.JSON;

    private final Path file;
    private final AppendFile appends;
    private long seq;
    /** The last line a record save covered; lines above it are only in the log. */
    private long covered;
    private long bytes;

    /**
     * The log in {@code file}, which its VM's session made (0600); it is never created here, so a
     * removed runtime directory stays removed. Its next line is numbered {@code lastSeq + 1};
     * {@code lastSeq} is what the record or the file reached.
     */
    public IntentLog(Path file, long lastSeq) {
        this.file = Objects.requireNonNull(file, "file");
        this.appends = new AppendFile(file);
        this.seq = lastSeq;
        this.covered = lastSeq;
        try {
            this.bytes = Files.size(file); // what earlier processes appended counts towards compaction too
        } catch (IOException e) {
            this.bytes = 0; // gone, or not readable: the next append says which
        }
    }

    /** The sequence number of the last line appended: a record saved now covers every line up to it. */
    public long lastSeq() {
        return seq;
    }

    /**
     * Appends {@code intent} as the next line; when it returns, the intent survives this
     * process. Returns the intent as encoded, for {@link #appendDone}. Throws
     * {@link HvspiException} when the line cannot be written (the operation must not start).
     */
    public byte[] append(Intent intent) {
        byte[] json = encode(intent);
        write(line(seq + 1, "intent", json, null), intent, "intent");
        return json;
    }

    /**
     * Appends that the attach {@code intent} finished, with the round-robin cursor after it
     * ({@code null} when it placed nothing); when it returns, a reattach replays the attach.
     * {@code json} is what {@link #append} returned for it. Throws {@link HvspiException} when
     * the line cannot be written (the caller saves the record instead).
     */
    public void appendDone(Intent intent, byte[] json, Long policyTurn) {
        if (!finishesByLine(intent)) {
            throw new IllegalArgumentException(intent.op() + " is not finished by a log line");
        }
        write(line(seq + 1, "done", json, policyTurn), intent, "outcome");
    }

    /** True when lines were appended since the last record save ({@link #covered}). */
    public boolean uncovered() {
        return seq > covered;
    }

    /** True once the file has grown past {@link #COMPACT_BYTES}: the caller saves the record, which empties it. */
    public boolean wantsCompaction() {
        return bytes >= COMPACT_BYTES;
    }

    /** Attaches are the operations whose outcome a line records; the others end with a record save. */
    static boolean finishesByLine(Intent intent) {
        return intent.op() == Intent.Op.ATTACH || intent.op() == Intent.Op.NIC_ATTACH;
    }

    /**
     * The intent as its lines hold it: the JSON the mapper writes for it, written field by field
     * (a test holds the two equal). Through the mapper's serialisers, which reach each field by
     * reflection, this was a fifth of an attach's own CPU in code the JIT has not compiled yet,
     * where a VM's few hotplugs run. {@link HvspiException} when it cannot be written.
     */
    static byte[] encode(Intent intent) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(512);
        try (JsonGenerator g = JSON.createGenerator(bytes)) {
            g.writeStartObject();
            g.writeStringField("op", intent.op().name());
            g.writeStringField("id", intent.id());
            g.writeFieldName("device");
            if (intent.device() == null) {
                g.writeNull();
            } else {
                write(g, intent.device());
            }
            writeStrings(g, "target", intent.target());
            g.writeFieldName("nic");
            if (intent.nic() == null) {
                g.writeNull();
            } else {
                write(g, intent.nic());
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new HvspiException("cannot write intent of " + intent.op() + " '" + intent.id() + "': "
                    + e.getMessage(), e);
        }
        return bytes.toByteArray();
    }

    private static void write(JsonGenerator g, DeviceState d) throws IOException {
        g.writeStartObject();
        g.writeStringField("id", d.id());
        g.writeStringField("driver", d.driver());
        g.writeStringField("nodeName", d.nodeName());
        g.writeStringField("backend", d.backend());
        g.writeStringField("path", d.path());
        g.writeNumberField("sizeBytes", d.sizeBytes());
        g.writeStringField("format", d.format());
        g.writeBooleanField("readOnly", d.readOnly());
        g.writeBooleanField("direct", d.direct());
        writeStrings(g, "ioThreads", d.ioThreads());
        g.writeNumberField("queues", d.queues());
        g.writeStringField("bus", d.bus());
        g.writeNumberField("lun", d.lun());
        g.writeBooleanField("unplugging", d.unplugging());
        g.writeEndObject();
    }

    private static void write(JsonGenerator g, NicState n) throws IOException {
        g.writeStartObject();
        g.writeStringField("id", n.id());
        g.writeStringField("netdev", n.netdev());
        g.writeStringField("tap", n.tap());
        g.writeBooleanField("createdTap", n.createdTap());
        g.writeStringField("mac", n.mac());
        g.writeNumberField("queues", n.queues());
        g.writeStringField("bus", n.bus());
        g.writeBooleanField("unplugging", n.unplugging());
        g.writeEndObject();
    }

    private static void writeStrings(JsonGenerator g, String field, List<String> values) throws IOException {
        g.writeArrayFieldStart(field);
        for (String v : values) {
            g.writeString(v);
        }
        g.writeEndArray();
    }

    /** One {@link Line} as Jackson writes it (fields in order, a null cursor left out), from the encoded intent. */
    static byte[] line(long seq, String field, byte[] intentJson, Long policyTurn) {
        byte[] head = ("{\"seq\":" + seq + ",\"" + field + "\":").getBytes(StandardCharsets.US_ASCII);
        byte[] tail = (policyTurn == null ? "}\n" : ",\"policyTurn\":" + policyTurn + "}\n")
                .getBytes(StandardCharsets.US_ASCII);
        byte[] line = Arrays.copyOf(head, head.length + intentJson.length + tail.length);
        System.arraycopy(intentJson, 0, line, head.length, intentJson.length);
        System.arraycopy(tail, 0, line, head.length + intentJson.length, tail.length);
        return line;
    }

    private void write(byte[] line, Intent intent, String what) {
        try {
            appends.append(line);
        } catch (IOException e) {
            throw new HvspiException("cannot log " + what + " of " + intent.op() + " '" + intent.id() + "' to "
                    + file + ": " + e.getMessage(), e);
        }
        seq++;
        bytes += line.length;
    }

    /** Lets go of the file; a later append opens it for that line alone. */
    @Override
    public void close() {
        appends.close();
    }

    /**
     * Called after a record save that covers {@link #lastSeq()}: empties the file once it has
     * grown past {@link #COMPACT_BYTES}, or when {@code compactNow}. A failure leaves the file as
     * it is (its lines are history); it never fails the save.
     */
    public void covered(boolean compactNow) {
        covered = seq;
        if (bytes == 0 || (!compactNow && bytes < COMPACT_BYTES)) {
            return;
        }
        try {
            Files.write(file, new byte[0], StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING,
                    LinkOption.NOFOLLOW_LINKS);
            bytes = 0;
        } catch (IOException e) {
            // history only (or the directory is going): the next compaction tries again
        }
    }

    /**
     * What a reattaching process finds in the log.
     *
     * @param intents the intents logged after the record's last save and not finished by a line, in order
     * @param finished the attaches finished by a line after the record's last save, in order: replayed as
     *                 confirmed (each is removed from the record's intents too, should it be there)
     * @param policyTurn the round-robin cursor after the last finished attach that placed a disk, or -1
     * @param lastSeq the highest sequence number in the file, or {@code recordSeq} when none is higher
     * @param dirty true when the file holds lines the record does not cover or a torn last line: the
     *              reattach saves and empties it (lines that are history only stay until the file has
     *              grown, as after any save)
     */
    public record Pending(List<Intent> intents, List<Intent> finished, long policyTurn, long lastSeq,
                          boolean dirty) {
        /**
         * The VM's state as the record and this log say together: the finished attaches replayed as
         * confirmed, the operations in flight (the record's, with the log's in their place) left as intents
         * to settle, and the log covered up to {@link #lastSeq}.
         */
        public QemuState applyTo(QemuState recorded) {
            List<Intent> inFlight = PendingIntents.merge(recorded.intents(), intents);
            inFlight.removeAll(finished);
            return recorded.withFinished(finished, policyTurn).withIntents(inFlight, lastSeq);
        }
    }

    /**
     * Reads the lines above {@code recordSeq}. A last line without its newline is one
     * whose append never returned, so its operation sent nothing to QEMU (or, for an
     * outcome, the attach is settled against QEMU instead): it is ignored. Any other line
     * that is not a numbered intent or outcome, or a number that does not grow, is an
     * error naming the file and the line.
     */
    public static Pending read(Path file, long recordSeq) {
        byte[] content;
        // not through a link, nor from a FIFO: the log is a file hvspi made in a private directory
        try {
            AppendFile.requireRegularFile(file);
            try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
                content = in.readNBytes(MAX_BYTES + 1);
            }
            if (content.length > MAX_BYTES) {
                throw new HvspiException("refusing intent log " + file + ": it is larger than " + (MAX_BYTES >> 20)
                        + " MiB; hvspi keeps it to a few KiB");
            }
        } catch (NoSuchFileException e) {
            return new Pending(List.of(), List.of(), -1, recordSeq, false);
        } catch (IOException e) {
            throw new HvspiException("cannot read intent log " + file + ": " + e.getMessage(), e);
        }
        String text = new String(content, StandardCharsets.UTF_8);
        int complete = text.lastIndexOf('\n') + 1; // what follows is a torn last line
        List<Intent> intents = new ArrayList<>();
        List<Intent> finished = new ArrayList<>();
        long turn = -1;
        long last = recordSeq;
        long previous = Long.MIN_VALUE;
        String[] lines = complete == 0 ? new String[0] : text.substring(0, complete - 1).split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            Line line = parse(file, i + 1, lines[i]);
            if (line.seq() <= previous) {
                throw corrupt(file, i + 1, "sequence number " + line.seq() + " does not follow " + previous);
            }
            previous = line.seq();
            if (line.seq() <= recordSeq) {
                continue;
            }
            last = line.seq();
            if (line.intent() != null) {
                intents.add(line.intent());
            } else {
                intents.remove(line.done());
                finished.add(line.done());
                turn = line.policyTurn() != null ? line.policyTurn() : turn;
            }
        }
        boolean torn = complete < text.length();
        return new Pending(List.copyOf(intents), List.copyOf(finished), turn, last,
                last > recordSeq || torn);
    }

    private static Line parse(Path file, int lineNumber, String text) {
        try {
            JsonNode node = JSON.readTree(text);
            if (node == null || !node.path("seq").canConvertToExactIntegral()
                    || node.path("intent").isObject() == node.path("done").isObject()) {
                throw corrupt(file, lineNumber, "not a numbered intent or outcome");
            }
            Line line = JSON.treeToValue(node, Line.class);
            if (line.done() != null && !finishesByLine(line.done())) {
                throw corrupt(file, lineNumber, "an outcome of " + line.done().op() + ", which ends with a record save");
            }
            if (line.policyTurn() != null && line.policyTurn() < 0) {
                throw corrupt(file, lineNumber, "policyTurn is " + line.policyTurn());
            }
            return line;
        } catch (JsonProcessingException | IllegalArgumentException | NullPointerException e) {
            throw corrupt(file, lineNumber, e instanceof JsonProcessingException j ? j.getOriginalMessage()
                    : e.toString());
        }
    }

    private static HvspiException corrupt(Path file, int lineNumber, String why) {
        return new HvspiException("corrupt intent log " + file + " line " + lineNumber + ": " + why
                + "; it is the VM's record of operations in flight and attaches not yet saved, written only by hvspi");
    }

    /**
     * One line of the file: an intent begun, or an attach finished ({@code done}, with the
     * round-robin cursor after it when it placed a disk).
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record Line(long seq, Intent intent, Intent done, Long policyTurn) {}
}
