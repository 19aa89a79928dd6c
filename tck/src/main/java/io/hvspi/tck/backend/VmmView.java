package io.hvspi.tck.backend;

import io.hvspi.spi.Hypervisor;

/**
 * The VMM's own view of a VM, read past the plugin: what the kit checks where
 * the SPI has no operation to observe a capability (a disk's discard is
 * automatic, so only the VMM can say whether it reaches the backend). A backend
 * offers one through {@link TckBackend#vmmView()} when it can ask its VMM
 * directly (QEMU: QMP); the tests that need it are skipped with a reason
 * elsewhere.
 */
public interface VmmView {

    /**
     * The bytes the backend file of block device {@code deviceId} holds
     * allocated on the host, as the VMM reports them (QEMU: {@code query-block},
     * {@code image.actual-size}).
     */
    long allocatedBytes(Hypervisor vm, String deviceId);

    /**
     * Discards {@code length} bytes at {@code offset} of block device
     * {@code deviceId} through the VMM's block layer, as a guest's TRIM would
     * reach it (QEMU: HMP {@code qemu-io -d <qdev> "discard ..."}).
     */
    void discard(Hypervisor vm, String deviceId, long offset, long length);
}
