package io.hvspi.tck.backend;

import io.hvspi.spi.HypervisorFactory;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Real QEMU without a guest ({@code -S}, no kernel) under {@code accel=tcg}: a
 * VM starts in about 20 ms, and hotplug, IOThreads and QMP are all real.
 * Override {@link #vmSpec} or {@link #disk} to boot a guest or use other disks.
 */
public class QemuTckBackend extends BaseTckBackend {
    /** The binary the kit looks for on {@code PATH}. */
    public static final String BINARY_NAME = "qemu-system-x86_64";

    private final Path binary;
    private String version;

    /** QEMU at {@code binary}; use {@link #locate()} for the usual one. */
    public QemuTckBackend(HypervisorFactory factory, Path binary, Path workDir) {
        super(factory, workDir);
        this.binary = binary;
    }

    /** The binary the system property {@code hvspi.qemu} or the variable {@code HVSPI_QEMU} names, else the first on {@code PATH}. */
    public static Optional<Path> locate() {
        String explicit = System.getProperty("hvspi.qemu", System.getenv("HVSPI_QEMU"));
        if (explicit != null && !explicit.isBlank()) {
            return Optional.of(Path.of(explicit));
        }
        String path = System.getenv("PATH");
        if (path == null) {
            return Optional.empty();
        }
        for (String dir : path.split(File.pathSeparator)) {
            Path candidate = Path.of(dir, BINARY_NAME);
            if (Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    @Override
    protected Path binary() {
        return binary;
    }

    @Override
    public Optional<String> unavailableReason() {
        if (!Files.isExecutable(binary)) {
            return Optional.of("no executable QEMU at " + binary + " (install qemu-system-x86 or set HVSPI_QEMU)");
        }
        return Optional.empty();
    }

    /** QEMU's own answers over QMP, through the plugin's {@code monitorCommand}. */
    @Override
    public Optional<VmmView> vmmView() {
        return Optional.of(new QmpVmmView());
    }

    @Override
    public synchronized String describe() {
        if (unavailableReason().isPresent()) {
            return BINARY_NAME + " at " + binary + " (missing)";
        }
        if (version == null) {
            version = probeVersion();
        }
        return version + " (" + binary + "), accel=tcg, no guest";
    }

    private String probeVersion() {
        try {
            Process p = new ProcessBuilder(List.of(binary.toString(), "--version")).redirectErrorStream(true).start();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return BINARY_NAME + " (version unknown: --version timed out)";
            }
            String first = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().findFirst()
                    .orElse("");
            // "QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u16)"
            return first.startsWith("QEMU emulator version ")
                    ? "QEMU " + first.substring("QEMU emulator version ".length())
                    : BINARY_NAME;
        } catch (IOException e) {
            return BINARY_NAME + " (version unknown: " + e.getMessage() + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return BINARY_NAME;
        }
    }
}
