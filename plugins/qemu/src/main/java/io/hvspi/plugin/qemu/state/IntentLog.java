package io.hvspi.plugin.qemu.state;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.hvspi.spi.HvspiException;
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
 * QMP command, instead of rewriting the whole record; the record save that ends the
 * operation holds everything logged so far and the last sequence number it covers
 * ({@link QemuState#intentLog()}). Lines at or below that number are history; the lines
 * above it are intents of a process that died mid-operation, which reattach settles.
 * The file is emptied after a record save once it has grown past {@link #COMPACT_BYTES}.
 *
 * <p>Not thread-safe: the caller holds the VM's model lock, as for the record's saves.
 */
public final class IntentLog {
    /** Emptied after a record save once it holds this much: a reattach reads at most about this. */
    static final int COMPACT_BYTES = 16 * 1024;

    private static final ObjectMapper JSON = QemuState.JSON;

    private final Path file;
    private long seq;
    private long bytes;

    /**
     * The log in {@code file}, which its VM's session made (0600); it is never created here, so a
     * removed runtime directory stays removed. Its next line is numbered {@code lastSeq + 1};
     * {@code lastSeq} is what the record or the file reached.
     */
    public IntentLog(Path file, long lastSeq) {
        this.file = Objects.requireNonNull(file, "file");
        this.seq = lastSeq;
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
     * process. Throws {@link HvspiException} when the line cannot be written (the
     * operation must not start).
     */
    public void append(Intent intent) {
        byte[] line;
        try {
            byte[] json = JSON.writeValueAsBytes(new Line(seq + 1, intent));
            line = Arrays.copyOf(json, json.length + 1);
            line[json.length] = '\n';
        } catch (JsonProcessingException e) {
            throw new HvspiException("cannot write intent of " + intent.op() + " '" + intent.id() + "': "
                    + e.getOriginalMessage(), e);
        }
        try {
            // a stream, as the record store writes: an interrupted caller still finishes its line
            Files.write(file, line, StandardOpenOption.WRITE, StandardOpenOption.APPEND, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            throw new HvspiException("cannot log intent of " + intent.op() + " '" + intent.id() + "' to " + file
                    + ": " + e.getMessage(), e);
        }
        seq++;
        bytes += line.length;
    }

    /**
     * Called after a record save that covers {@link #lastSeq()}: empties the file once it has
     * grown past {@link #COMPACT_BYTES}, or when {@code compactNow}. A failure leaves the file as
     * it is (its lines are history); it never fails the save.
     */
    public void covered(boolean compactNow) {
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
     * @param intents the intents logged after the record's last save, in order
     * @param lastSeq the highest sequence number in the file, or {@code recordSeq} when none is higher
     * @param dirty true when the file holds intents in flight or a torn last line: the reattach
     *              empties it once the record covers them (lines that are history only stay until
     *              the file has grown, as after any save)
     */
    public record Pending(List<Intent> intents, long lastSeq, boolean dirty) {}

    /**
     * Reads the lines above {@code recordSeq}. A last line without its newline is one
     * whose append never returned, so its operation sent nothing to QEMU: it is ignored.
     * Any other line that is not a numbered intent, or a number that does not grow, is
     * an error naming the file and the line.
     */
    public static Pending read(Path file, long recordSeq) {
        byte[] content;
        // not through a link: the log is a file hvspi made in a private directory
        try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
            content = in.readAllBytes();
        } catch (NoSuchFileException e) {
            return new Pending(List.of(), recordSeq, false);
        } catch (IOException e) {
            throw new HvspiException("cannot read intent log " + file + ": " + e.getMessage(), e);
        }
        String text = new String(content, StandardCharsets.UTF_8);
        int complete = text.lastIndexOf('\n') + 1; // what follows is a torn last line
        List<Intent> intents = new ArrayList<>();
        long last = recordSeq;
        long previous = Long.MIN_VALUE;
        String[] lines = complete == 0 ? new String[0] : text.substring(0, complete - 1).split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            Line line = parse(file, i + 1, lines[i]);
            if (line.seq() <= previous) {
                throw corrupt(file, i + 1, "sequence number " + line.seq() + " does not follow " + previous);
            }
            previous = line.seq();
            if (line.seq() > recordSeq) {
                intents.add(line.intent());
                last = line.seq();
            }
        }
        boolean torn = complete < text.length();
        return new Pending(List.copyOf(intents), last, !intents.isEmpty() || torn);
    }

    private static Line parse(Path file, int lineNumber, String text) {
        try {
            JsonNode node = JSON.readTree(text);
            if (node == null || !node.path("seq").canConvertToExactIntegral() || !node.path("intent").isObject()) {
                throw corrupt(file, lineNumber, "not a numbered intent");
            }
            return new Line(node.get("seq").asLong(), JSON.treeToValue(node.get("intent"), Intent.class));
        } catch (JsonProcessingException | IllegalArgumentException | NullPointerException e) {
            throw corrupt(file, lineNumber, e instanceof JsonProcessingException j ? j.getOriginalMessage()
                    : e.toString());
        }
    }

    private static HvspiException corrupt(Path file, int lineNumber, String why) {
        return new HvspiException("corrupt intent log " + file + " line " + lineNumber + ": " + why
                + "; it is the VM's record of operations in flight, written only by hvspi");
    }

    /** One line of the file. */
    record Line(long seq, Intent intent) {}
}
