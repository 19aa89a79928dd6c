package io.hvspi.plugin.qemu.events;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The journal's lines: one JSON object each, event, timestamp and data in that order. */
class EventJournalTest {
    @TempDir
    Path tmp;

    @Test
    void eachAppendIsOneLineWithEventTimestampAndData() throws Exception {
        Path file = Files.createFile(tmp.resolve("events.jsonl"));
        EventJournal journal = new EventJournal(file);
        Instant before = Instant.now();
        journal.append("DEVICE_ATTACHED", Map.of("device", "disk0", "iothreads", List.of("a", "b")));
        journal.append("DEVICE_DETACHED", Map.of("device", "d\u00e9\"1"));

        List<String> lines = Files.readAllLines(file);
        assertEquals(2, lines.size(), lines.toString());
        assertTrue(Files.readString(file).endsWith("}\n"));
        assertTrue(lines.get(0).startsWith("{\"event\":\"DEVICE_ATTACHED\",\"timestamp\":\""), lines.get(0));
        JsonNode first = new ObjectMapper().readTree(lines.get(0));
        assertEquals(List.of("event", "timestamp", "data"), List.copyOf(first.properties().stream()
                .map(Map.Entry::getKey).toList()));
        assertFalse(Instant.parse(first.get("timestamp").asText()).isBefore(before));
        assertEquals("disk0", first.at("/data/device").asText());
        assertEquals("b", first.at("/data/iothreads/1").asText());
        assertEquals("d\u00e9\"1", new ObjectMapper().readTree(lines.get(1)).at("/data/device").asText());
    }

    @Test
    void aJournalWhoseFileIsGoneIsNotCreatedAgain() {
        Path file = tmp.resolve("gone/events.jsonl");
        new EventJournal(file).append("DEVICE_DETACHED", Map.of("device", "disk0"));
        assertFalse(Files.exists(file));
        assertFalse(Files.exists(file.getParent()));
    }
}
