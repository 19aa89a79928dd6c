package io.hvspi.core.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Micrometer is an optional dependency: only {@link MicrometerMetrics} may name it, so
 * that a host without Micrometer on its class path never tries to load it.
 */
class MicrometerIsOptionalTest {
    @Test
    void onlyMicrometerMetricsNamesMicrometer() throws IOException {
        Path classes = Path.of(HostMetrics.class.getProtectionDomain().getCodeSource().getLocation().getPath());
        List<String> naming;
        try (Stream<Path> files = Files.walk(classes)) {
            naming = files.filter(f -> f.toString().endsWith(".class"))
                    .filter(MicrometerIsOptionalTest::namesMicrometer)
                    .map(f -> classes.relativize(f).toString()).sorted().toList();
        }
        assertEquals(List.of("io/hvspi/core/metrics/MicrometerMetrics.class"), naming);
    }

    /** A class file names every class it links to in its constant pool, as {@code io/micrometer/...}. */
    private static boolean namesMicrometer(Path classFile) {
        try {
            return new String(Files.readAllBytes(classFile), StandardCharsets.ISO_8859_1).contains("io/micrometer/");
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void errorKindsCarryTheReasonWhereThereIsOne() {
        assertEquals("VmmUnavailableException.TIMED_OUT", HostMetrics.kind(new io.hvspi.spi.VmmUnavailableException(
                io.hvspi.spi.VmmUnavailableException.Reason.TIMED_OUT, "x")));
        assertEquals("RequestRejectedException.NOT_FOUND", HostMetrics.kind(new io.hvspi.spi.RequestRejectedException(
                io.hvspi.spi.RequestRejectedException.Reason.NOT_FOUND, "x")));
        assertEquals("VmmException", HostMetrics.kind(new io.hvspi.spi.VmmException("device_add", "GenericError", "x")));
    }
}
