package io.hvspi.spi;

import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import org.pf4j.ExtensionPoint;

/**
 * The entry point of a hypervisor plugin: a pf4j extension that makes
 * {@link Hypervisor} instances for one VMM type.
 *
 * <p>A plugin must guarantee:
 * <ul>
 *   <li>{@link #type()} is the key of the Kata table that selects it
 *       ({@code qemu}, {@code clh}, {@code dragonball}, or a third party's), and
 *       is constant.</li>
 *   <li>{@link #declaredCapabilities()} is honest in both directions: every
 *       declared capability works, every other one fails with
 *       {@link UnsupportedCapabilityException}. The TCK checks both.</li>
 *   <li>Construction is cheap and has no side effects: the host may instantiate
 *       factories just to list them.</li>
 * </ul>
 */
public interface HypervisorFactory extends ExtensionPoint {

    /** The Kata hypervisor table key this factory serves, e.g. {@code qemu}. */
    String type();

    /** One line for people: which VMM, and how it is driven. */
    default String description() {
        return type();
    }

    /**
     * What this plugin supports on a capable VMM binary. A running VM may report
     * less ({@link Hypervisor#capabilities()}), never more.
     */
    Set<Capability> declaredCapabilities();

    /**
     * A new VM, not yet started. Validates the spec (binary exists, values in
     * range) and throws {@link ConfigException} for what it cannot run; starts
     * nothing.
     */
    Hypervisor create(VmSpec spec, HostContext host);

    /**
     * Connects to a VM that an earlier process started and recorded in
     * {@link HostContext#stateStore()}. The result sees the same devices and
     * IOThreads. Throws {@link VmmUnavailableException} when the VM is gone.
     */
    Hypervisor reattach(VmRecord record, HostContext host);

    /**
     * Follows the events of a running VM that this or another process started, without
     * taking it over: the VM's owner and other commands keep working while events are
     * delivered (the VMM's own, and {@link VmEvent#VMM_EXITED} once, when the VMM is
     * gone). Delivery is on a thread that is not the caller's, until the subscription
     * is closed or the VMM exits.
     *
     * <p>The default refuses: a plugin whose VMM offers no second event channel cannot
     * do this without disturbing the VM's connection. It refuses with a plain
     * {@link HvspiException} naming the plugin's {@link #type()}, not with
     * {@link UnsupportedCapabilityException}, although this is an operation the plugin
     * does not support: that exception names the missing {@link Capability} (its
     * constructors require one), and no capability stands for following events from
     * another process. Adding one is an SPI change (a new enum constant every plugin's
     * compatibility-kit switch must decide), so it waits for that; until then a caller
     * tells this refusal by the type, not by a capability.
     *
     * @throws VmmUnavailableException when the VM's VMM is gone
     * @since 1.1
     */
    default Hypervisor.Subscription follow(VmRecord record, HostContext host, Consumer<VmEvent> listener) {
        throw new HvspiException("the " + type() + " plugin cannot follow the events of VM '" + record.vmId()
                + "' from another process; subscribe in the process that started it");
    }

    /**
     * The VM's log files, by role: {@code vmm} for the VMM's own output,
     * {@code console} for the guest's serial console; only the roles this plugin keeps.
     * The files live in the VM's runtime directory and go with it.
     *
     * @since 1.1
     */
    default Map<String, Path> logFiles(VmRecord record) {
        return Map.of();
    }
}
