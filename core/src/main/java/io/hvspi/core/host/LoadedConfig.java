package io.hvspi.core.host;

import io.hvspi.core.config.Accelerator;
import io.hvspi.core.config.ConfigNote;
import io.hvspi.core.config.KataConfig;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmSpec;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * A Kata configuration as {@link HvspiHost} loaded it: validated, with Kata's
 * defaults and any annotations applied. Inspect it, then turn it into the
 * {@link VmSpec} of one VM with {@link #spec(String)}.
 *
 * @param kata everything hvspi read, for what this record does not summarise
 */
public record LoadedConfig(KataConfig kata) {
    public LoadedConfig {
        Objects.requireNonNull(kata, "kata");
    }

    /** The file it came from (or the name given to text). */
    public Path source() {
        return kata.source();
    }

    /** The selected {@code [hypervisor.NAME]} table, which is also the plugin type, e.g. {@code qemu}. */
    public String hypervisorType() {
        return kata.hypervisorName();
    }

    /** The independent IOThreads the VM gets at start (0 when IOThreads are off). */
    public int poolSize() {
        return kata.hypervisor().ioThreads().poolSize();
    }

    public IOThreadPolicy ioThreadPolicy() {
        return kata.hypervisor().ioThreads().policy();
    }

    /** The accelerator VMs of this configuration get ({@code auto} resolved for this host), and why. */
    public Accelerator.Choice accelerator() {
        return Accelerator.choose(kata.hypervisor().accel());
    }

    /** Warnings about the file (deprecated or ignored keys, clamped values), each one line with its position. */
    public List<String> warnings() {
        return kata.warnings().stream().map(n -> n.format(kata.source())).toList();
    }

    /** Keys hvspi does not know, with their positions. */
    public List<ConfigNote> unknownKeys() {
        return kata.unknownKeys();
    }

    /**
     * The spec of one VM. Change it before starting with {@code toBuilder()}, e.g.
     * {@code spec("vm1").toBuilder().accel("tcg").build()}.
     */
    public VmSpec spec(String vmId) {
        return kata.toVmSpec(vmId);
    }
}
