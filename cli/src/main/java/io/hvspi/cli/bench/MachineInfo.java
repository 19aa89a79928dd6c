package io.hvspi.cli.bench;

import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a benchmark says about the machine it ran on, beyond {@link BenchReport#cpuModel()}: memory from
 * {@code /proc/meminfo}, and the VMM binary's version.
 */
final class MachineInfo {
    private static final Pattern VERSION_LINE = Pattern.compile("version (\\S+)(?: \\(([^)]*)\\))?");

    private MachineInfo() {}

    /**
     * The JVM's version and the options that set its JIT compiler, which the ratios depend on
     * ({@code bin/hvctl} chooses them per command): {@code 25.0.3+9-LTS with -XX:TieredStopAtLevel=1 ...}.
     */
    static String java() {
        return java(Runtime.version().toString(), ManagementFactory.getRuntimeMXBean().getInputArguments());
    }

    static String java(String version, List<String> jvmArguments) {
        List<String> jit = jvmArguments.stream()
                .filter(a -> a.startsWith("-XX:TieredStopAtLevel") || a.startsWith("-XX:CompileThreshold")
                        || a.startsWith("-XX:CompileCommand=") && !a.equals("-XX:CompileCommand=quiet")
                        || a.equals("-XX:-TieredCompilation") || a.equals("-Xint"))
                .toList();
        return jit.isEmpty() ? version : version + " with " + String.join(" ", jit);
    }

    /** {@code MemTotal} from {@code /proc/meminfo}, in MiB; 0 when unreadable. */
    static long memoryMib() {
        return procField(Path.of("/proc/meminfo"), "MemTotal").map(v -> Long.parseLong(v.split("\\s+")[0]) / 1024)
                .orElse(0L);
    }

    /**
     * The binary's version as {@code 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)}, the form
     * QEMU's greeting gives, from {@code --version}; the first output line when it does not
     * parse, {@code unknown} when the binary does not run.
     */
    static String vmmVersion(Path binary) {
        try {
            Process p = new ProcessBuilder(List.of(binary.toString(), "--version")).redirectErrorStream(true).start();
            p.getOutputStream().close();
            String out;
            try (InputStream in = p.getInputStream()) {
                out = new String(in.readNBytes(4096), StandardCharsets.UTF_8);
            }
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
            String first = out.lines().findFirst().orElse("").strip();
            Matcher m = VERSION_LINE.matcher(first);
            if (!m.find()) {
                return first.isEmpty() ? "unknown" : first;
            }
            return m.group(2) == null ? m.group(1) : m.group(1) + " (" + m.group(2) + ")";
        } catch (IOException e) {
            return "unknown";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "unknown";
        }
    }

    /** The value after the colon of the first line starting with {@code key}. */
    private static Optional<String> procField(Path file, String key) {
        try {
            for (String line : Files.readAllLines(file)) {
                if (line.startsWith(key)) {
                    return Optional.of(line.substring(line.indexOf(':') + 1).strip());
                }
            }
        } catch (IOException e) {
            // not Linux, or /proc hidden: the caller's default
        }
        return Optional.empty();
    }
}
