package io.hvspi.tck.compat;

import io.hvspi.spi.Capability;
import java.util.Optional;

/**
 * One contract test, a row of the report.
 *
 * @param id stable id, {@code <contract>.<method>}, e.g. {@code hotplug.attachListAndDetach}
 * @param contract the contract's group key ({@link io.hvspi.tck.Contract})
 * @param contractTitle the contract's title
 * @param name what it checks, for people
 * @param capability the capability it exercises, if any ({@link io.hvspi.tck.Exercises})
 */
public record TestCase(String id, String contract, String contractTitle, String name, Optional<Capability> capability) {

    /** The report group: the capability's key, else the contract's. */
    public String group() {
        return capability.map(Capability::key).orElse(contract);
    }
}
