package io.hvspi.guest;

import java.util.List;

/**
 * One fio run inside the guest ({@code HVSPI FIO}), all disks reported together.
 *
 * @param devices the disks, one fio job each
 * @param iops read plus write IOPS over all jobs
 * @param readIops read IOPS
 * @param writeIops write IOPS
 * @param bandwidthKib read plus write bandwidth in KiB/s
 * @param readLatencyMicros mean total read latency in microseconds (0 when nothing was read)
 * @param writeLatencyMicros mean total write latency in microseconds (0 when nothing was written)
 * @param runtimeMillis how long fio ran
 */
public record FioResult(List<String> devices, long iops, long readIops, long writeIops, long bandwidthKib,
                        double readLatencyMicros, double writeLatencyMicros, long runtimeMillis) {
    public FioResult {
        devices = List.copyOf(devices);
    }
}
