package io.hvspi.cli.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * What {@code hvctl bench hotplug} measured: each step through hvspi and through
 * the raw client, in the same run, on the same machine.
 *
 * @param machine where it ran
 * @param metrics one entry per measured step
 */
public record BenchReport(Machine machine, List<Metric> metrics) {
    public BenchReport {
        metrics = List.copyOf(metrics);
    }

    /** The host CPU's model name from {@code /proc/cpuinfo}, or {@code unknown}. */
    static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    return line.substring(line.indexOf(':') + 1).strip();
                }
            }
        } catch (IOException e) {
            // not Linux, or /proc is hidden: say so rather than fail the benchmark
        }
        return "unknown";
    }

    /**
     * @param cpu the CPU model
     * @param cores the cores the JVM sees
     * @param qemu QEMU's version and package, from its greeting
     * @param accel the accelerator the VMs used
     * @param java the JVM's version
     * @param iterations measured iterations per hotplug and round-trip step
     * @param warmup unmeasured iterations before them
     * @param starts measured VM starts per side
     */
    public record Machine(String cpu, int cores, String qemu, String accel, String java, int iterations, int warmup,
                         int starts) {}

    /**
     * @param name a short key, e.g. {@code hotplug}
     * @param description what one sample is, on each side
     * @param framework through hvspi's SPI
     * @param raw through the raw client
     * @param pairedRatio the median of each iteration's hvspi sample over its raw sample
     */
    public record Metric(String name, String description, Figures framework, Figures raw, double pairedRatio) {
        /** A step whose two sides took one sample each per iteration, in turns. */
        static Metric of(String name, String description, Samples framework, Samples raw) {
            return new Metric(name, description, framework.summary(), raw.summary(),
                    Samples.pairedMedianRatio(framework, raw));
        }

        /** Framework median over raw median. */
        public double ratio() {
            return framework.medianMs() / raw.medianMs();
        }
    }

    /** One side's figures, in milliseconds. */
    public record Figures(int count, double medianMs, double p90Ms, double meanMs, double minMs) {}
}
