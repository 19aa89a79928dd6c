package io.hvspi.spi;

import java.util.List;

/**
 * A VM's pool of independent IOThreads: created with the VM, kept for its whole
 * life, and shared by the devices that attach to them.
 *
 * <p>A plugin must guarantee that the pool's accounting (which devices use which
 * IOThread) changes only after the VMM confirmed the change, that
 * {@link #remove(String)} refuses an IOThread a device still uses (even where the
 * VMM itself would accept it), and that {@link #list()} reports host thread ids
 * read from the VMM, not guessed.
 */
public interface IOThreadProvider {

    /** The pool in creation order, with host thread ids and attached devices. */
    List<IOThreadInfo> list();

    /** The placement policy used for devices that ask for {@link IOThreadChoice.ByPolicy}. */
    IOThreadPolicy policy();

    /**
     * The IOThread the policy would give a new device now, without reserving it.
     * Throws {@link RequestRejectedException} ({@code EXHAUSTED}) when the pool is empty.
     */
    String choose();

    /**
     * Adds an IOThread while the VM runs. Needs {@link Capability#IOTHREAD_RUNTIME_ADD}.
     * Throws {@link RequestRejectedException}: {@code DUPLICATE_ID} for an id that is taken,
     * {@code INVALID_ARGUMENT} for one that is not a valid VMM id.
     */
    IOThreadInfo add(String id);

    /**
     * Removes an IOThread; its host thread exits. Needs {@link Capability#IOTHREAD_RUNTIME_ADD}.
     * Refused with {@link RequestRejectedException}: {@code IN_USE} while a device uses it (also
     * a device attached before a reattach), {@code NOT_FOUND} for an IOThread the pool does not have.
     */
    void remove(String id);

    /**
     * Sets adaptive polling; {@link #list()} reports it afterwards exactly as set. Needs
     * {@link Capability#IOTHREAD_POLLING}. Refused with {@link RequestRejectedException}
     * ({@code NOT_FOUND}) for an IOThread the pool does not have.
     */
    void setPolling(String id, PollingParams polling);

    /**
     * Pins an IOThread's host thread to {@code cpus} ({@code sched_setaffinity}) and
     * records the pin with the VM, so that another process reattaching reports it and
     * keeps it. Needs {@link Capability#IOTHREAD_PINNING}. Throws
     * {@link RequestRejectedException} ({@code NOT_FOUND}) for an unknown IOThread and
     * ({@code INVALID_ARGUMENT}) for CPUs this host does not have.
     *
     * <p>The default, for plugins written against SPI 1.0, throws
     * {@link UnsupportedCapabilityException}. It cannot know the VM's hypervisor type, so it names
     * the placeholder {@code "this hypervisor"}; the host's plugin guard and the compatibility kit
     * turn that error into the same one naming the plugin's type, so such a plugin passes the kit
     * and users see its type. A plugin that implements this method names its own type.
     *
     * @return the IOThread as it is now, its {@link IOThreadInfo#affinity()} read back from the kernel
     * @since SPI 1.1
     */
    default IOThreadInfo pin(String id, CpuSet cpus) {
        throw new UnsupportedCapabilityException(Capability.IOTHREAD_PINNING, "this hypervisor");
    }

    /**
     * Clears an IOThread's pin: its host thread may run on every CPU the VMM process
     * may use again, and the record forgets the pin; a plugin that places pool IOThreads on a
     * configured CPU set returns a pool IOThread to that set instead. Needs {@link Capability#IOTHREAD_PINNING}.
     * The default throws as {@link #pin}'s does.
     *
     * @since SPI 1.1
     */
    default IOThreadInfo unpin(String id) {
        throw new UnsupportedCapabilityException(Capability.IOTHREAD_PINNING, "this hypervisor");
    }
}
