package io.hvspi.core.config;

import java.util.Map;

/**
 * Which Kata runtime a {@code configuration.toml} is written for: the Go runtime
 * ({@code src/runtime}) or runtime-rs ({@code src/runtime-rs}). The two read the
 * same file format with different key sets, defaults and validation, so hvspi
 * applies the rules of the runtime that owns the file.
 *
 * <p>The discriminator is {@code [runtime] hypervisor_name}: runtime-rs selects
 * its hypervisor table with it (kata-types {@code src/config/runtime.rs},
 * {@code Runtime::hypervisor_name}, which every runtime-rs template sets), while
 * the Go runtime's {@code runtime} struct has no such key
 * ({@code src/runtime/pkg/katautils/config.go}) and takes the only
 * {@code [hypervisor.NAME]} table.
 */
public enum KataRuntime {
    /** The Go runtime, {@code containerd-shim-kata-v2} from {@code src/runtime}. */
    GO("go"),
    /** runtime-rs, {@code containerd-shim-kata-v2} from {@code src/runtime-rs}. */
    RUNTIME_RS("runtime-rs");

    private final String key;

    KataRuntime(String key) {
        this.key = key;
    }

    /** The name used in messages, JSON and {@code kata-keys.txt}: {@code go} or {@code runtime-rs}. */
    public String key() {
        return key;
    }

    /** The runtime owning a file whose {@code [runtime]} table is {@code runtimeTable} (may be null). */
    static KataRuntime of(Map<String, Object> runtimeTable) {
        return runtimeTable != null && runtimeTable.containsKey("hypervisor_name") ? RUNTIME_RS : GO;
    }
}
