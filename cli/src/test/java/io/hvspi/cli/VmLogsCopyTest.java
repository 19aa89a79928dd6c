package io.hvspi.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** vm logs decodes a log as one stream: a character split by a read (the VMM halfway through it) stays whole. */
class VmLogsCopyTest {
    @TempDir
    Path tmp;

    @Test
    void aCharacterSplitAcrossReadsAndAppendsComesOutWhole() throws Exception {
        Path log = tmp.resolve("vmm.log");
        byte[] euro = "€".getBytes(StandardCharsets.UTF_8);
        StringBuilder head = new StringBuilder("a".repeat(65535)).append('é').append("b".repeat(10));
        Files.writeString(log, head);
        Files.write(log, new byte[] {euro[0], euro[1]}, StandardOpenOption.APPEND);
        StringWriter out = new StringWriter();
        try (FileChannel channel = FileChannel.open(log, StandardOpenOption.READ)) {
            VmLogsCommand.Utf8Copy copy = new VmLogsCommand.Utf8Copy(channel, new PrintWriter(out, true));
            copy.available();
            assertEquals(head.toString(), out.toString(), "the incomplete last character waits");
            Files.write(log, new byte[] {euro[2], 'z', (byte) 0xe2}, StandardOpenOption.APPEND);
            copy.available();
            copy.end();
        }
        assertEquals(head + "€z\uFFFD", out.toString(), "completed by the next read; a truncated end is replaced once");
    }
}
