package io.hvspi.cli.bench;

import io.hvspi.spi.HostContext;
import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmStateStore;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A host whose state store keeps records in memory: the benchmark runs one VM on
 * it to separate what the plugin costs from what writing the state file costs.
 */
final class MemoryHost implements HostContext {
    private final HostContext host;
    private final Map<String, VmRecord> records = new ConcurrentHashMap<>();
    private final VmStateStore store = new VmStateStore() {
        @Override
        public void save(VmRecord record) {
            records.put(record.vmId(), record);
        }

        @Override
        public Optional<VmRecord> load(String vmId) {
            return Optional.ofNullable(records.get(vmId));
        }

        @Override
        public List<VmRecord> list() {
            return new ArrayList<>(records.values());
        }

        @Override
        public void remove(String vmId) {
            records.remove(vmId);
        }
    };

    MemoryHost(HostContext host) {
        this.host = host;
    }

    @Override
    public Path runtimeRoot() {
        return host.runtimeRoot();
    }

    @Override
    public Path createRuntimeDir(String vmId) {
        return host.createRuntimeDir(vmId);
    }

    @Override
    public VmStateStore stateStore() {
        return store;
    }

    @Override
    public Duration commandTimeout() {
        return host.commandTimeout();
    }

    @Override
    public Optional<String> option(String key) {
        return host.option(key);
    }
}
