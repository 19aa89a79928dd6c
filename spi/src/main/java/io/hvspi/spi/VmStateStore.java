package io.hvspi.spi;

import java.util.List;
import java.util.Optional;

/**
 * Persisted VM records. Implementations write atomically (a reader sees the old
 * record or the new one, never a torn file) and keep files private (0600).
 */
public interface VmStateStore {

    void save(VmRecord record);

    Optional<VmRecord> load(String vmId);

    /** Every recorded VM, whether or not its VMM still runs. */
    List<VmRecord> list();

    /** Forgets a VM; no error when it is not recorded. */
    void remove(String vmId);
}
