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
    void aLineIsWhatTheMapperWritesForTheEventAsAMap() throws Exception {
        Instant at = Instant.parse("2026-12-06T03:48:12.345678Z");
        Map<String, Object> data = new java.util.LinkedHashMap<>();
        data.put("device", "n\u00e9\"0\\");
        data.put("queues", 4);
        data.put("iothreads", List.of("a", "b"));
        data.put("empty", List.of());
        data.put("size", 1L << 40);
        data.put("nested", List.of(List.of("x"), 3));
        data.put("ratio", 0.5); // not a kind events carry: through the mapper
        data.put("none", null);
        Map<String, Object> event = new java.util.LinkedHashMap<>();
        event.put("event", "NIC_ATTACHED");
        event.put("timestamp", at.toString());
        event.put("data", data);
        assertEquals(new ObjectMapper().writeValueAsString(event) + "\n",
                new String(EventJournal.line("NIC_ATTACHED", at, data), java.nio.charset.StandardCharsets.UTF_8));
    }

    @Test
    void timestampsAreWhatInstantPrints() {
        EventJournal.Timestamps timestamps = new EventJournal.Timestamps();
        java.util.Random random = new java.util.Random(42);
        List<Instant> instants = new java.util.ArrayList<>(List.of(Instant.EPOCH, Instant.parse("2026-12-06T03:48:12Z"),
                Instant.parse("2026-12-06T03:48:12.100Z"), Instant.parse("2026-12-06T03:48:12.000001Z"),
                Instant.parse("2026-12-06T03:48:12.000000001Z"), Instant.parse("2026-12-06T03:48:12.120300Z"),
                Instant.parse("1969-12-31T23:59:59.999999999Z"), Instant.parse("+10000-01-01T00:00:00.5Z")));
        for (int i = 0; i < 2000; i++) {
            long second = 1_700_000_000L + random.nextInt(3); // often the same second, as appends are
            int nanos = switch (random.nextInt(4)) {
                case 0 -> 0;
                case 1 -> random.nextInt(1000) * 1_000_000;
                case 2 -> random.nextInt(1_000_000) * 1_000;
                default -> random.nextInt(1_000_000_000);
            };
            instants.add(Instant.ofEpochSecond(second, nanos));
        }
        for (Instant at : instants) {
            assertEquals(at.toString(), timestamps.format(at));
        }
    }

    @Test
    void aClosedJournalStillAppendsEachEventOnItsOwn() throws Exception {
        Path file = Files.createFile(tmp.resolve("events.jsonl"));
        EventJournal journal = new EventJournal(file);
        journal.append("DEVICE_ATTACHED", Map.of("device", "disk0"));
        journal.close();
        journal.append("DEVICE_DETACHED", Map.of("device", "disk0"));
        assertEquals(2, Files.readAllLines(file).size(), "an event after the session's end is not lost");
    }

    @Test
    void aFifoInPlaceOfTheJournalNeitherBlocksAnAppendNorAFollower() throws Exception {
        Path fifo = tmp.resolve("events.jsonl");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(5), () -> {
            new EventJournal(fifo).append("DEVICE_DETACHED", Map.of("device", "disk0")); // lost, not waited on
            java.io.IOException e = org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
                    () -> EventJournal.tail(fifo, event -> { }));
            assertTrue(e.getMessage().endsWith("is not a regular file"), e.getMessage());
        });
    }

    @Test
    void aJournalWhoseFileIsGoneIsNotCreatedAgain() {
        Path file = tmp.resolve("gone/events.jsonl");
        new EventJournal(file).append("DEVICE_DETACHED", Map.of("device", "disk0"));
        assertFalse(Files.exists(file));
        assertFalse(Files.exists(file.getParent()));
    }

    /** 4 MiB written without a line end (not hvspi's) is dropped, not kept whole: the next event still arrives. */
    @Test
    void aHugeLineWithoutAnEndIsSkippedAndTheNextEventDelivered() throws Exception {
        Path file = Files.createFile(tmp.resolve("events.jsonl"));
        java.util.concurrent.BlockingQueue<io.hvspi.spi.VmEvent> got = new java.util.concurrent.LinkedBlockingQueue<>();
        try (AutoCloseable tail = EventJournal.tail(file, got::add)) {
            Files.write(file, "x".repeat(4 << 20).getBytes(), java.nio.file.StandardOpenOption.APPEND);
            Files.write(file, "\n".getBytes(), java.nio.file.StandardOpenOption.APPEND);
            new EventJournal(file).append("DEVICE_DETACHED", Map.of("device", "disk0"));
            io.hvspi.spi.VmEvent event = got.poll(10, java.util.concurrent.TimeUnit.SECONDS);
            assertEquals("DEVICE_DETACHED", event == null ? null : event.name());
        }
    }
}
