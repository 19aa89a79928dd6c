package io.hvspi.tck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.hvspi.spi.Capability;
import io.hvspi.spi.Hypervisor;
import io.hvspi.spi.HypervisorFactory;
import io.hvspi.spi.IOThreadPolicy;
import io.hvspi.spi.UnsupportedCapabilityException;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

/** The declared and effective capabilities, and the Optional views that follow them. */
@Contract(value = "declaration", title = "Capability declaration")
public abstract class CapabilityContract extends ContractBase {
    /** A Kata table key: lower case, as in {@code [hypervisor.qemu]}. */
    private static final Pattern TYPE = Pattern.compile("[a-z][a-z0-9_-]{0,31}");

    protected CapabilityContract(TckKit kit) {
        super(kit);
    }

    @Test
    @Order(1)
    @DisplayName("the factory declares exactly what the plugin's test decided")
    void declarationMatchesThePluginTest() {
        Set<Capability> declared = kit.backend().factory().declaredCapabilities();
        Set<Capability> decided = EnumSet.noneOf(Capability.class);
        for (Capability c : Capability.values()) {
            if (kit.expectation(c).declared()) {
                decided.add(c);
            }
        }
        assertEquals(keys(decided), keys(declared),
                "declaredCapabilities() must match the test's switch (SUPPORTED or DEPENDS_ON_BINARY)");
    }

    @Test
    @Order(2)
    @DisplayName("the declaration is consistent (features have what they build on)")
    void declarationIsConsistent() {
        Set<Capability> declared = kit.backend().factory().declaredCapabilities();
        List<String> problems = new ArrayList<>();
        for (Capability c : declared) {
            for (Capability r : CapabilityRules.requires(c)) {
                if (!declared.contains(r)) {
                    problems.add(c.key() + " needs " + r.key());
                }
            }
        }
        assertTrue(problems.isEmpty(), () -> "inconsistent declaration: " + String.join(", ", problems));
    }

    @Test
    @Order(3)
    @DisplayName("a VM's effective capabilities are declared and include every SUPPORTED one")
    void effectiveCapabilitiesAreDeclared() {
        Hypervisor vm = kit.startVm();
        Set<Capability> effective = vm.capabilities();
        kit.note(TckKit.EFFECTIVE_ENTRY, effective.stream().sorted().map(Capability::key).collect(Collectors.joining(",")));
        Set<Capability> declared = kit.backend().factory().declaredCapabilities();
        Set<Capability> extra = EnumSet.noneOf(Capability.class);
        extra.addAll(effective);
        extra.removeAll(declared);
        assertTrue(extra.isEmpty(), () -> "effective but not declared: " + keys(extra));
        Set<Capability> missing = EnumSet.noneOf(Capability.class);
        for (Capability c : Capability.values()) {
            if (kit.expectation(c) == CapabilityExpectation.SUPPORTED && !effective.contains(c)) {
                missing.add(c);
            }
        }
        assertTrue(missing.isEmpty(), () -> "SUPPORTED by the test but absent from the VM: " + keys(missing)
                + " (use DEPENDS_ON_BINARY for capabilities found by probing)");
        for (Capability c : Capability.values()) {
            assertEquals(effective.contains(c), vm.supports(c), () -> "supports(" + c + ") disagrees with capabilities()");
        }
    }

    @Test
    @Order(4)
    @DisplayName("ioThreads(), hotplug() and networkHotplug() are present exactly with their capability")
    void viewsFollowTheirCapability() {
        Hypervisor vm = kit.startVm();
        assertView(vm, Capability.INDEPENDENT_IOTHREADS, vm.ioThreads().isPresent(), vm::requireIoThreads);
        assertView(vm, Capability.BLOCK_DEVICE_HOTPLUG, vm.hotplug().isPresent(), vm::requireHotplug);
        Optional<String> skip = kit.backend().skipReason(Capability.NETWORK_DEVICE_HOTPLUG, vm);
        if (skip.isPresent()) {
            kit.note("hvspi.skipped", Capability.NETWORK_DEVICE_HOTPLUG.key() + ": " + skip.get());
        } else {
            assertView(vm, Capability.NETWORK_DEVICE_HOTPLUG, vm.networkHotplug().isPresent(),
                    vm::requireNetworkHotplug);
        }
    }

    private void assertView(Hypervisor vm, Capability c, boolean present, Supplier<?> require) {
        assertEquals(vm.supports(c), present, () -> "the view for " + c.key() + " must be present exactly when "
                + "the VM has the capability (has it: " + vm.supports(c) + ")");
        if (!present) {
            UnsupportedCapabilityException e = assertThrows(UnsupportedCapabilityException.class, require::get);
            kit.assertNamesMissingCapability(vm, c, e);
        }
    }

    @Test
    @Order(5)
    @DisplayName("the type is a constant Kata table key, on the factory and its VMs")
    void typeIsAStableKataTableKey() {
        HypervisorFactory factory = kit.backend().factory();
        String type = factory.type();
        assertTrue(TYPE.matcher(type).matches(), () -> "type '" + type + "' is not a Kata table key");
        assertEquals(type, factory.type(), "type() must be constant");
        assertFalse(factory.description().isBlank(), "description() must say which VMM and how");
        Hypervisor vm = kit.createVm(0, IOThreadPolicy.LEAST_LOADED);
        assertEquals(type, vm.type());
    }

    private static List<String> keys(Set<Capability> caps) {
        return caps.stream().sorted().map(Capability::key).toList();
    }
}
