package io.hvspi.cli;

import io.hvspi.spi.Capability;
import java.util.Collection;
import java.util.List;

/** Capabilities in the enum's order: Kata's bits first, then the IOThread family. */
final class Capabilities {
    private Capabilities() {}

    static List<Capability> sorted(Collection<Capability> capabilities) {
        return capabilities.stream().sorted().toList();
    }
}
