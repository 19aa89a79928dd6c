package io.hvspi.cli.bench;

import io.hvspi.spi.VmRecord;
import io.hvspi.spi.VmStateStore;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A state store that keeps records in memory: the benchmark runs one VM on a host
 * with it, to separate what the plugin costs from what writing the state file costs.
 */
final class MemoryStore implements VmStateStore {
    private final Map<String, VmRecord> records = new ConcurrentHashMap<>();

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
}
