package io.hvspi.plugin.qemu.state;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.hvspi.spi.IOThreadPolicy;
import java.util.Objects;

/**
 * The parts of a VM's configuration that matter after start: what hotplug and the
 * IOThread pool need, kept in the plugin state so that a reattaching process
 * behaves as the one that started the VM.
 *
 * @param binary the QEMU binary
 * @param accel {@code kvm} or {@code tcg}
 * @param vcpus boot vCPUs: the default queue count of a hotplugged disk (Kata's rule)
 * @param guestless no kernel and no image: nothing runs in the VM, so nothing can acknowledge an unplug
 * @param blockDriver the configured {@code block_device_driver}, as written
 * @param aio {@code block_device_aio}: {@code io_uring}, {@code native} or {@code threads}
 * @param cacheDirect {@code block_device_cache_direct}, when {@code block_device_cache_set}
 * @param cacheNoflush {@code block_device_cache_noflush}, when {@code block_device_cache_set}
 * @param ioThreadsEnabled {@code enable_iothreads}
 * @param policy the placement policy for devices that let the pool choose
 * @param fsSharing false when the configuration rules out shared file systems
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record QemuSettings(String binary, String accel, int vcpus, boolean guestless, String blockDriver, String aio,
                           boolean cacheDirect, boolean cacheNoflush, boolean ioThreadsEnabled, IOThreadPolicy policy,
                           boolean fsSharing) {
    public QemuSettings {
        Objects.requireNonNull(binary, "binary");
        Objects.requireNonNull(blockDriver, "blockDriver");
        Objects.requireNonNull(aio, "aio");
        Objects.requireNonNull(policy, "policy");
    }
}
