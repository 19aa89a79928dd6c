package io.hvspi.tck.backend;

import io.hvspi.spi.BlockBackend;
import io.hvspi.spi.Capability;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.NetBackend;
import io.hvspi.spi.HostContext;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.VmSpec;
import java.util.Optional;

/**
 * How the compatibility kit gets VMs from one plugin: the seam between the
 * contract tests and a VMM that runs here (a real binary, a simulator, an
 * in-memory fake). A plugin's kit test supplies one; {@code hvctl compat} picks a
 * default per type ({@link DefaultBackends}).
 *
 * <p>The kit makes a fresh VM for each test ({@link #vmSpec} then
 * {@link HypervisorFactory#create} with {@link #host}), stops every VM it made,
 * and closes the backend after the last test.
 */
public interface TckBackend extends AutoCloseable {

    /** The plugin under test. */
    HypervisorFactory factory();

    /** The plugin's hypervisor type. */
    default String type() {
        return factory().type();
    }

    /**
     * Why no VM can be made here (no binary, no simulator in this build), or
     * empty when VMs can be made. The kit skips a plugin with a reason instead
     * of failing it, and the report says "unavailable".
     */
    Optional<String> unavailableReason();

    /** One line for the report: what the VMs run on, e.g. {@code qemu-system-x86_64 7.2.19, accel=tcg, no guest}. */
    String describe();

    /**
     * A VM to start, with this backend's settings.
     *
     * @param vmId a fresh id from the kit
     * @param poolSize the independent IOThreads to ask for (used only where the plugin declares a pool)
     * @param policy the pool's placement policy
     */
    VmSpec vmSpec(String vmId, int poolSize, IOThreadPolicy policy);

    /**
     * The host context for the VM {@code vmId}: where its runtime directory and
     * state record go, and any option the plugin needs (a simulator backend sets
     * {@code endpoint}). The same id gives the same context (the kit reattaches
     * with it).
     */
    HostContext host(String vmId);

    /** A fresh disk for hotplug tests, named for the test; a backend makes it as its VMM can open it. */
    BlockBackend disk(String name);

    /**
     * True when the VMM is a real host process whose thread ids the kit can
     * check under {@code /proc/<pid>/task} (false for a simulator that only
     * pretends to have threads).
     */
    boolean realHostThreads();

    /**
     * A way to look into the VMM past the plugin, for the contracts the SPI
     * cannot observe (discard); empty when this backend has none, and those
     * contracts are skipped with a reason.
     */
    default Optional<VmmView> vmmView() {
        return Optional.empty();
    }

    /**
     * The host end for a network device the kit attaches, named {@code name} (at most
     * 15 characters, unique on this host). By default a tap the plugin is asked to
     * create ({@link NetBackend#newTap}); a backend whose VMM needs something else
     * (a tap made beforehand, vhost-user) overrides it.
     */
    default NetBackend tap(String name) {
        return NetBackend.newTap(name);
    }

    /**
     * A host end the VMM must fail to open, for the "failed attach leaves nothing"
     * contract: by default the loopback interface brought as a tap, which exists but is
     * not a tun/tap device, so {@code TUNSETIFF} refuses it ({@code EINVAL}).
     */
    default NetBackend unusableTap() {
        return NetBackend.tap("lo");
    }

    /**
     * Why the contracts of {@code capability} cannot run on this backend's VM {@code vm}
     * although the plugin declares it, or empty when they can. For a plugin whose
     * implementation is known to be on its way (the test is skipped with this reason
     * instead of failing); never for a plugin that simply declares too much.
     */
    default Optional<String> skipReason(Capability capability, Hypervisor vm) {
        return Optional.empty();
    }

    /**
     * Ends the VM {@code vmId} without its plugin, for when the plugin's stop failed or
     * did not return: its VMM, found through the VM's record and {@code /proc}, is sent
     * SIGTERM then SIGKILL, and its record and runtime directory go once no VMM is left.
     * By default a backend cannot, and says so.
     *
     * @throws RuntimeException when a VMM of the VM still runs afterwards (or cannot be
     *         ended here); one line naming it
     */
    default void endVm(String vmId) {
        throw new UnsupportedOperationException("this backend cannot end VM '" + vmId + "' without its plugin");
    }

    /**
     * Ends the VMM of the started VM {@code vmId} behind its plugin's back, as a crash would: the
     * plugin is not told, its record and runtime directory stay. For the contract that a VMM's death
     * is reported ({@code VMM_EXITED}, {@code FAILED}, {@link io.hvspi.spi.VmmUnavailableException}).
     * A real VMM gets SIGKILL ({@link BaseTckBackend}: the pid in the VM's record); a simulator stops
     * serving. Returns once the VMM is gone.
     *
     * @return false when this backend cannot end a VMM on its own (an in-process VMM): the
     *         contract is skipped with that reason
     */
    default boolean killVmm(String vmId) {
        return false;
    }

    /**
     * After {@link #close}: one line for each VMM that close could not end. Its work
     * directory is then kept (nothing removes the record of a VMM that still runs).
     */
    default java.util.List<String> leftRunning() {
        return java.util.List.of();
    }

    /**
     * Stops whatever the backend started (simulators), ends the VMMs of any VM still
     * recorded or still running (a plugin's stop that failed) and removes its files;
     * files of a VMM that cannot be ended are kept ({@link #leftRunning}). Never throws.
     *
     * <p>Once only: {@code hvctl compat} closes the backend of a run given up past its deadline
     * while that run's own cleanup may still come; a later call must wait for the first and change
     * nothing ({@link #leftRunning} stays what the first found), and after close {@link #host},
     * {@link #vmSpec}, {@link #disk} and {@link #endVm} refuse ({@code BaseTckBackend} does all this).
     */
    @Override
    void close();
}
