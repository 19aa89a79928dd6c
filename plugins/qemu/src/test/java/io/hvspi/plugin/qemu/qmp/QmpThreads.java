package io.hvspi.plugin.qemu.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.management.HotSpotDiagnosticMXBean;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Counts the live threads the QMP client starts ({@code json-line-reader} platform
 * threads; {@code qmp-events} and {@code qmp-late} virtual threads), from a JVM
 * thread dump, which lists virtual threads as well.
 */
public final class QmpThreads {
    private static final List<String> PREFIXES = List.of("json-line-reader", "qmp-events", "qmp-late");

    private QmpThreads() {}

    /** How many QMP client threads are alive now. */
    public static int count() {
        try {
            Path dump = Files.createTempFile("threads", ".json");
            try {
                Files.delete(dump); // dumpThreads refuses to overwrite
                ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class)
                        .dumpThreads(dump.toString(), HotSpotDiagnosticMXBean.ThreadDumpFormat.JSON);
                int n = 0;
                for (JsonNode container : QmpClient.JSON.readTree(dump.toFile()).path("threadDump")
                        .path("threadContainers")) {
                    for (JsonNode thread : container.path("threads")) {
                        String name = thread.path("name").asText();
                        if (PREFIXES.stream().anyMatch(name::startsWith)) {
                            n++;
                        }
                    }
                }
                return n;
            } finally {
                Files.deleteIfExists(dump);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Polls until at most {@code baseline} QMP client threads are alive; fails after 5 s naming the count. */
    public static void awaitAtMost(int baseline, String what) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        int n;
        while ((n = count()) > baseline) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(what + ": " + n + " QMP client threads alive, " + baseline + " before");
            }
            LockSupport.parkNanos(5_000_000);
        }
    }
}
