package io.hvspi.spi;

/**
 * Adaptive polling of an IOThread (QEMU's {@code poll-max-ns}, {@code poll-grow},
 * {@code poll-shrink}). {@code maxNs = 0} turns polling off; grow and shrink 0
 * mean the VMM's default.
 */
public record PollingParams(long maxNs, long grow, long shrink) {
    public PollingParams {
        if (maxNs < 0 || grow < 0 || shrink < 0) {
            throw new IllegalArgumentException(
                    "polling parameters must be >= 0 (max-ns " + maxNs + ", grow " + grow + ", shrink " + shrink + ")");
        }
    }
}
