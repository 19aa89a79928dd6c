package io.hvspi.core.state;

import io.hvspi.spi.VmRecord;
import java.nio.file.Path;
import java.util.Optional;

/** One VM directory of the runtime root as a listing sees it: a readable record, or a corrupt one. */
public sealed interface VmEntry {
    /** The VM id: the directory's name. */
    String vmId();

    /**
     * A record that passed validation.
     *
     * @param identity the VMM's recorded identity, when the record has one consistent with its pid
     * @param vmmAlive whether that identity is verified to be running now ({@link VmmProcess#isAlive()})
     */
    record Recorded(VmRecord record, Optional<VmmIdentity> identity, boolean vmmAlive) implements VmEntry {
        @Override
        public String vmId() {
            return record.vmId();
        }
    }

    /**
     * A VM directory without a record: a VM being created, or one whose creator died
     * before writing it. Its VMM can still be found through {@link VmmProcess#findByRuntimeDir}.
     */
    record Unrecorded(String vmId, Path dir) implements VmEntry {}

    /**
     * A directory whose record cannot be used: unreadable or invalid.
     *
     * @param reason one line naming the file and what is wrong with it
     */
    record Corrupt(String vmId, Path dir, String reason) implements VmEntry {}
}
